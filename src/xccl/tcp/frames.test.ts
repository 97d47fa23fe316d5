/**
 * Tests of the tcp framing (frames.ts, outbox.ts; paper notes §2.4 semantics over sockets): frames
 * encoded by the Outbox come back unchanged through FrameParser.drain however the byte stream is
 * split (byte by byte, random cuts, all at once), and large trailing payloads are referenced.
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
  box.frame(FRAME.signal, [5, -3]);
  box.frame(FRAME.put, [64], small);
  box.frame(FRAME.put, [128], big);
  box.frame(FRAME.getReq, [1, 2, 3]);
  const parts = box.take();
  const le = (...v: number[]): number[] => [...Buffer.from(new Int32Array(v).buffer)];
  const expected: Seen[] = [
    { type: FRAME.signal, body: le(5, -3) },
    { type: FRAME.put, body: [...le(64), ...small] },
    { type: FRAME.put, body: [...le(128), ...big] },
    { type: FRAME.getReq, body: le(1, 2, 3) },
  ];
  return { bytes: Buffer.concat(parts), parts: parts.length, expected };
}

function drainIn(bytes: Buffer, cuts: readonly number[]): Seen[] {
  const p = new FrameParser();
  const seen: Seen[] = [];
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    p.drain(Buffer.from(bytes.subarray(at, c)), (type, buf, s, e) => seen.push({ type, body: [...buf.subarray(s, e)] }));
    at = c;
  }
  return seen;
}

describe('xccl tcp framing', () => {
  it('outbox frames round-trip through drain, whole or split anywhere', () => {
    const { bytes, parts, expected } = encodeSample();
    assert.equal(parts, 3, 'the big payload is referenced as its own part between two encoded parts');
    assert.deepEqual(drainIn(bytes, []), expected);
    assert.deepEqual(drainIn(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)), expected);
    let seed = 7;
    const cuts = [...new Set(Array.from({ length: 12 }, () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return 1 + (seed % (bytes.length - 1)); }))].sort((a, b) => a - b);
    assert.deepEqual(drainIn(bytes, cuts), expected);
  });

  it('drain and push agree, and the outbox matches frameHeader byte for byte', () => {
    const box = new Outbox();
    box.frame(FRAME.signal, [11, 22]);
    const [enc] = box.take();
    assert.deepEqual([...enc!], [...frameHeader(FRAME.signal, [11, 22])]);
    const frames = new FrameParser().push(Buffer.from(enc!));
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.type, FRAME.signal);
    assert.equal(frames[0]!.body.readInt32LE(4), 22);
    assert.ok(box.isEmpty);
  });
});
