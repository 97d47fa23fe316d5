/**
 * Prefix cache of the RTC (paper notes §2.9: "RTC holds the KV cache, tracks prefix-cache hits"):
 * a hash chain over FULL blocks, hash(parentHash, tokenIds of the block) → physical block id.
 * The same prefix always gives the same chain, so a new request walks its prompt block by block
 * and stops at the first miss. Hashes are 52-bit numbers; every hit is verified against the stored
 * parent hash and token ids, so a hash collision is a miss, never wrong KV.
 * Reference counts and eviction order live in BlockPool; this is only the index.
 */

/** A block hash: an integer in [0, 2^52). */
export type BlockHash = number;

interface Entry {
  readonly hash: BlockHash;
  readonly parentHash: BlockHash | null;
  readonly tokenIds: Int32Array; // [blockSizeTokens] copy of the block's tokens
}

const ROOT_SEED_A = 0x2545f491;
const ROOT_SEED_B = 0x9e3779b9;

/** One murmur3 round of the 32-bit lane `h` over token `t`. */
function mixLane(h: number, t: number, c1: number, c2: number): number {
  let k = Math.imul(t, c1);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, c2);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** murmur3's fmix32 finalizer. */
function fmix(h: number, n: number): number {
  h ^= n;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** hash(parentHash, tokens): two independent murmur3 lanes folded into 52 bits. */
export function hashBlock(parentHash: BlockHash | null, tokenIds: ArrayLike<number>): BlockHash {
  let a = parentHash === null ? ROOT_SEED_A : mixLane(ROOT_SEED_A, parentHash % 0x100000000, 0xcc9e2d51, 0x1b873593);
  let b = parentHash === null ? ROOT_SEED_B : mixLane(ROOT_SEED_B, Math.floor(parentHash / 0x100000000), 0x239b961b, 0xab0e9789);
  if (parentHash !== null) {
    a = mixLane(a, Math.floor(parentHash / 0x100000000), 0xcc9e2d51, 0x1b873593);
    b = mixLane(b, parentHash % 0x100000000, 0x239b961b, 0xab0e9789);
  }
  for (let i = 0; i < tokenIds.length; i++) {
    const t = tokenIds[i]! | 0;
    a = mixLane(a, t, 0xcc9e2d51, 0x1b873593);
    b = mixLane(b, t, 0x239b961b, 0xab0e9789);
  }
  return fmix(a, tokenIds.length) * 0x100000 + (fmix(b, tokenIds.length) >>> 12);
}

function sameTokens(x: Int32Array, y: ArrayLike<number>): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

export class PrefixCache {
  private readonly blockOf = new Map<BlockHash, number>();
  private readonly entryOf = new Map<number, Entry>();

  /** Number of blocks that currently hold a cached prefix. */
  get numCachedBlocks(): number {
    return this.entryOf.size;
  }

  /** The block holding exactly (parentHash, tokenIds) under `hash`, or undefined. */
  lookup(hash: BlockHash, parentHash: BlockHash | null, tokenIds: ArrayLike<number>): number | undefined {
    const blockId = this.blockOf.get(hash);
    if (blockId === undefined) return undefined;
    const e = this.entryOf.get(blockId);
    if (e === undefined || e.parentHash !== parentHash || !sameTokens(e.tokenIds, tokenIds)) return undefined;
    return blockId;
  }

  /** Registers a full block; false (no change) if the hash or the block is already registered. */
  insert(blockId: number, hash: BlockHash, parentHash: BlockHash | null, tokenIds: ArrayLike<number>): boolean {
    if (this.blockOf.has(hash) || this.entryOf.has(blockId)) return false;
    this.blockOf.set(hash, blockId);
    this.entryOf.set(blockId, { hash, parentHash, tokenIds: Int32Array.from(tokenIds) });
    return true;
  }

  isCached(blockId: number): boolean {
    return this.entryOf.has(blockId);
  }

  /** Forgets the prefix a block holds (it is about to be overwritten). No-op if none. */
  evict(blockId: number): void {
    const e = this.entryOf.get(blockId);
    if (e === undefined) return;
    this.entryOf.delete(blockId);
    this.blockOf.delete(e.hash);
  }

  /** Drops every entry (e.g. after the KV storage was reset). */
  clear(): void {
    this.blockOf.clear();
    this.entryOf.clear();
  }
}
