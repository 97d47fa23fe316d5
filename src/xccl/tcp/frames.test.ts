/**
 * Tests of the tcp framing (frames.ts, outbox.ts; paper notes §2.4 semantics over sockets): frames
 * encoded by the Outbox come back unchanged through FrameParser.drain however the byte stream is
 * split (byte by byte, random cuts, all at once), with every read delivered in one buffer that is
 * overwritten after each drain (as the socket's read buffer is); signals join the put or signals
 * frame before them; large trailing payloads are referenced.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FRAME, FrameParser, frameHeader } from './frames.js';
import { COPY_TRAILING_BYTES, Outbox } from './outbox.js';

interface Seen { type: number; body: number[] }

function encodeSample(): { bytes: Buffer; parts: number; expected: Seen[] } {
  const box = new Outbox();
  const big = new Uint8Array(COPY_TRAILING_BYTES + 10).map((_, i) => i & 255);
  const small = new Uint8Array([9, 8, 7]);
  box.signal(5, -3);
  box.signal(6, 9); // joins the signals frame before it
  box.frame(FRAME.put, 2, 64, small.length, 0, small);
  box.signal(1, 2); // joins the put
  box.frame(FRAME.put, 2, 128, big.length, 0, big);
  box.signal(3, 4); // the big payload is referenced: a frame of its own
  box.frame(FRAME.getReq, 3, 1, 2, 3);
  box.signal(10, 11); // a getReq is never extended
  box.frame(FRAME.put, 2, 7, 0, 0, new Uint8Array(0));
  box.signal(8, 8);
  const parts = box.take();
  const le = (...v: number[]): number[] => [...Buffer.from(new Int32Array(v).buffer)];
  const expected: Seen[] = [
    { type: FRAME.signals, body: le(5, -3, 6, 9) },
    { type: FRAME.put, body: [...le(64, 3), ...small, ...le(1, 2)] },
    { type: FRAME.put, body: [...le(128, big.length), ...big] },
    { type: FRAME.signals, body: le(3, 4) },
    { type: FRAME.getReq, body: le(1, 2, 3) },
    { type: FRAME.signals, body: le(10, 11) },
    { type: FRAME.put, body: le(7, 0, 8, 8) },
  ];
  return { bytes: Buffer.concat(parts), parts: parts.length, expected };
}

/** Feeds `bytes` cut at `cuts` through one reused read buffer, scribbled over after each drain. */
function drainIn(bytes: Buffer, cuts: readonly number[]): Seen[] {
  const p = new FrameParser();
  const readBuf = Buffer.alloc(bytes.length + 16);
  const seen: Seen[] = [];
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    const n = bytes.copy(readBuf, 0, at, c);
    p.drain(readBuf, n, (type, buf, s, e) => seen.push({ type, body: [...buf.subarray(s, e)] }));
    readBuf.fill(0xee);
    at = c;
  }
  assert.equal(p.pendingBytes, 0, 'nothing left partial at the end of the stream');
  return seen;
}

function randomCuts(length: number, count: number, seed: number): number[] {
  const cuts = new Set<number>();
  for (let i = 0; i < count; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    cuts.add(1 + (seed % (length - 1)));
  }
  return [...cuts].sort((a, b) => a - b);
}

describe('xccl tcp framing', () => {
  it('outbox frames round-trip through drain, whole or split anywhere, from a reused read buffer', () => {
    const { bytes, parts, expected } = encodeSample();
    assert.equal(parts, 3, 'the big payload is referenced as its own part between two encoded parts');
    assert.deepEqual(drainIn(bytes, []), expected);
    assert.deepEqual(drainIn(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)), expected);
    for (const seed of [7, 8, 9]) assert.deepEqual(drainIn(bytes, randomCuts(bytes.length, 12, seed)), expected);
    assert.deepEqual(drainIn(bytes, [2, 4100, 4104]), expected, 'cuts inside a header, then just after a large body starts');
  });

  it('signals merged across many encoding chunks all come back, in order', () => {
    const box = new Outbox();
    const numSignals = 5000; // 40 KB of pairs: more than one 16 KiB encoding chunk
    for (let i = 0; i < numSignals; i++) box.signal(i, -i);
    const seen = drainIn(Buffer.concat(box.take()), [1000, 16_390, 33_000]);
    const pairs = seen.flatMap((f) => { assert.equal(f.type, FRAME.signals); return [...new Int32Array(new Uint8Array(f.body).buffer)]; });
    assert.deepEqual(pairs, Array.from({ length: numSignals }, (_, i) => [i, -i | 0]).flat());
    assert.ok(seen.length >= 3 && seen.length <= 4, `${seen.length} frames: one per encoding chunk`);
  });

  it('a frame larger than the assembly buffer kept between frames is reassembled, then the next frame too', () => {
    const box = new Outbox();
    const huge = new Uint8Array((1 << 20) + 5).map((_, i) => (i * 7) & 255);
    box.frame(FRAME.getResp, 1, 42, 0, 0, huge);
    box.signal(1, 2);
    const bytes = Buffer.concat(box.take());
    const seen = drainIn(bytes, Array.from({ length: 17 }, (_, i) => 1 + i * 60_000));
    assert.equal(seen.length, 2);
    assert.equal(seen[0]!.type, FRAME.getResp);
    assert.deepEqual(Buffer.from(seen[0]!.body.slice(4)), Buffer.from(huge));
    assert.deepEqual(seen[1], { type: FRAME.signals, body: [1, 0, 0, 0, 2, 0, 0, 0] });
  });

  it('the outbox matches frameHeader byte for byte', () => {
    const box = new Outbox();
    box.signal(11, 22);
    const [enc] = box.take();
    assert.deepEqual([...enc!], [...frameHeader(FRAME.signals, [11, 22])]);
    assert.ok(box.isEmpty);
  });
});
