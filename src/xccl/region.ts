/**
 * The registered region of one XCCL rank (paper notes §2.4.1, §2.4.2): a metadata area of 32-byte
 * fields, a managed data area (p2p ring buffers, one per peer pair; the EP pull area; the small
 * all-gather area) and an optional application area. This file is pure layout arithmetic: every
 * transport (shm, tcp, sim) maps the same offsets, so the protocols above never see the medium.
 */
import { XdsError } from '../core/errors.js';

/** A metadata field is 32 bytes = 8 int32 words, as in the paper. */
export const FIELD_WORDS = 8;
export const FIELD_BYTES = 32;
/**
 * Bytes of the per-slot header in a p2p ring slot: seq, eventId, chunkId, totalBytes, then the
 * sender's own receive state toward the slot's reader (ackHead, ackEvent: a piggybacked ACK, shm
 * only) (i32; see p2p.ts).
 */
export const SLOT_HEADER_BYTES = 24;
/** Ring slots start on this boundary: a slot's flag and a small payload share one 128-byte pair of cache lines. */
export const SLOT_ALIGN_BYTES = 128;
/** EP channels: 0 = dispatch/combine over the world, 1 = a2e/e2a stage 1 (attention↔trampoline), 2 = stage 2 (expert group). */
export const NUM_EP_CHANNELS = 3;

/** Word indices inside the header field (field 0) of every region. */
export const HDR = {
  /** 0 = not started, 1 = ready, 2 = closed, 3 = declared dead by its launcher. */
  state: 0,
  pid: 1,
  /** Heartbeat counter: bumped by the owner's timer and while it waits (liveness, §2.10 style). */
  heartbeat: 2,
  /** Number of threads/processes parked on a word of this region (wake only when > 0). */
  sleepers: 3,
  /** World nonce: all ranks of one communicator agree on it. */
  nonce: 4,
  /** The word the parked waiter waits on, or -1 (any value wakes it); written before `sleepers`. */
  parkWord: 5,
  /** A signal of `parkWord` below this value need not wake the parked waiter (WaitSpec.wakeAt). */
  parkWakeAt: 6,
} as const;

export const RANK_STATE = { unstarted: 0, ready: 1, closed: 2, dead: 3 } as const;

export interface RegionConfig {
  readonly worldSize: number;
  /** p2p ring slot size in bytes, header included. */
  readonly slotBytes: number;
  /** Slots per ring (one ring per sender in each receiver's region). */
  readonly numSlots: number;
  /** Bytes of the EP pull area (partitioned by destination at run time). */
  readonly epAreaBytes: number;
  /** Bytes per source rank in the all-gather area (two parity halves each). */
  readonly allGatherBytes: number;
  /** Bytes of the application area (KV blocks, activations): p2p receives into it can be zero-copy (p2p-zero-copy.ts). */
  readonly appBytes: number;
}

export const DEFAULT_REGION: Omit<RegionConfig, 'worldSize'> = {
  slotBytes: 64 * 1024,
  numSlots: 8,
  epAreaBytes: 1 << 20,
  allGatherBytes: 4096,
  appBytes: 0,
};

/** Byte offsets of every area of a region; identical in every rank of one communicator. */
export interface RegionLayout {
  readonly config: RegionConfig;
  readonly metaBytes: number;
  readonly ringOffset: number;
  /** Distance between ring slots: slotBytes rounded up to SLOT_ALIGN_BYTES. */
  readonly slotStride: number;
  readonly epOffset: number;
  readonly allGatherOffset: number;
  readonly appOffset: number;
  readonly totalBytes: number;
  // Field indices (multiply by FIELD_WORDS for the word index).
  readonly p2pInField: number; // + sender: tail of the ring `sender → me`
  readonly p2pAckField: number; // + receiver: credits and ACKs from `receiver` for my sends to it
  readonly barrierField: number; // + source
  readonly allGatherField: number; // + source
  readonly epInField: number; // EP channel fields start here (see epInFieldOf / epAckFieldOf)
  readonly p2pPostField: number; // + receiver: its posted zero-copy destination for my next message to it (p2p-zero-copy.ts)
  readonly numFields: number;
}

function align(n: number, a = 64): number {
  return Math.ceil(n / a) * a;
}

function positiveInt(v: number, name: string, min: number): void {
  if (!Number.isInteger(v) || v < min) {
    throw new XdsError('invalid_argument', `xccl region: ${name} must be an integer >= ${min}, got ${v}`, { param: name });
  }
}

export function validateRegionConfig(c: RegionConfig): void {
  positiveInt(c.worldSize, 'worldSize', 1);
  positiveInt(c.slotBytes, 'slotBytes', SLOT_HEADER_BYTES + 4);
  positiveInt(c.numSlots, 'numSlots', 1);
  positiveInt(c.epAreaBytes, 'epAreaBytes', 0);
  positiveInt(c.allGatherBytes, 'allGatherBytes', 8);
  positiveInt(c.appBytes, 'appBytes', 0);
  if (c.slotBytes % 4 !== 0) throw new XdsError('invalid_argument', `xccl region: slotBytes must be a multiple of 4, got ${c.slotBytes}`, { param: 'slotBytes' });
}

export function makeRegionLayout(partial: Partial<RegionConfig> & { worldSize: number }): RegionLayout {
  const config: RegionConfig = { ...DEFAULT_REGION, ...partial };
  validateRegionConfig(config);
  const W = config.worldSize;
  const p2pInField = 1;
  const p2pAckField = p2pInField + W;
  const barrierField = p2pAckField + W;
  const allGatherField = barrierField + W;
  const epInField = allGatherField + W;
  const p2pPostField = epInField + NUM_EP_CHANNELS * 2 * W;
  const numFields = p2pPostField + W;
  const metaBytes = align(numFields * FIELD_BYTES);
  const ringOffset = align(metaBytes, SLOT_ALIGN_BYTES);
  const slotStride = align(config.slotBytes, SLOT_ALIGN_BYTES);
  const epOffset = align(ringOffset + W * config.numSlots * slotStride);
  const allGatherOffset = align(epOffset + config.epAreaBytes);
  const appOffset = align(allGatherOffset + W * 2 * config.allGatherBytes);
  const totalBytes = align(appOffset + config.appBytes, 4096);
  return Object.freeze({ config: Object.freeze(config), metaBytes, ringOffset, slotStride, epOffset, allGatherOffset, appOffset, totalBytes,
    p2pInField, p2pAckField, barrierField, allGatherField, epInField, p2pPostField, numFields });
}

/** Word index of word `w` of field `field`. */
export function wordOf(field: number, w = 0): number {
  return field * FIELD_WORDS + w;
}

/** Byte offset (in the receiver's region) of slot `slot` of the ring that carries `sender → receiver`. */
export function ringSlotOffset(l: RegionLayout, sender: number, slot: number): number {
  return l.ringOffset + (sender * l.config.numSlots + slot) * l.slotStride;
}

/** Field of EP channel `channel` where `source` publishes to the region owner. */
export function epInFieldOf(l: RegionLayout, channel: number, source: number): number {
  return l.epInField + channel * 2 * l.config.worldSize + source;
}

/** Field of EP channel `channel` where `puller` acknowledges to the region owner. */
export function epAckFieldOf(l: RegionLayout, channel: number, puller: number): number {
  return l.epInField + channel * 2 * l.config.worldSize + l.config.worldSize + puller;
}

/** Byte offset of the all-gather slot of `source` (parity 0 or 1) in any region. */
export function allGatherSlotOffset(l: RegionLayout, source: number, parity: number): number {
  return l.allGatherOffset + (source * 2 + parity) * l.config.allGatherBytes;
}
