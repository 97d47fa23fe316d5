/**
 * Tests of the tcp transport's connections (links.ts; paper notes §2.4 semantics over sockets):
 * an accepted connection re-wrapped by readThroughBuffer reads every byte, in order, into its one
 * fixed buffer, writes back on the same connection, and ends cleanly; the hello of a rank that may
 * not dial is refused. Real loopback sockets in this process.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { acceptHello, readThroughBuffer } from './links.js';
import { FRAME, frameHeader } from './frames.js';

const BYTES = 200_000; // several 64 KiB reads

function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + (i >> 10)) & 255;
  return b;
}

async function listening(onSocket: (s: Socket) => void): Promise<{ port: number; close: () => void }> {
  const server = createServer({ pauseOnConnect: true }, onSocket);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  assert.ok(addr !== null && typeof addr === 'object');
  return { port: addr.port, close: () => server.close() };
}

describe('xccl tcp links', () => {
  it('readThroughBuffer: every byte in order through one reused buffer; replies on the same connection; clean end', async () => {
    const got: Buffer[] = [];
    const buffers = new Set<Buffer>();
    let closed!: () => void;
    const serverClosed = new Promise<void>((r) => { closed = r; });
    const srv = await listening((accepted) => {
      const s = readThroughBuffer(accepted, (buf, n) => {
        buffers.add(buf);
        got.push(Buffer.from(buf.subarray(0, n)));
        s.write(Buffer.from([n & 255]));
      });
      s.on('close', () => closed());
    });
    const c = connect(srv.port, '127.0.0.1');
    let replies = 0;
    c.on('data', (d: Buffer) => { replies += d.length; });
    const data = pattern(BYTES);
    c.write(data.subarray(0, 100));
    c.write(data.subarray(100));
    await new Promise<void>((r) => { const t = setInterval(() => { if (Buffer.concat(got).length >= BYTES) { clearInterval(t); r(); } }, 2); });
    c.end();
    await serverClosed;
    srv.close();
    assert.ok(Buffer.concat(got).equals(data), 'bytes intact and in order');
    assert.equal(buffers.size, 1, 'one fixed read buffer');
    assert.ok(got.length >= 2 && replies === got.length, `a reply per read (${replies} replies, ${got.length} reads)`);
  });

  it('acceptHello: frames after the hello (same read) reach the handler; a refused hello closes the connection', async () => {
    const seen: number[] = [];
    const srv = await listening((accepted) => acceptHello(accepted, (peer) => (peer === 3 ? (type) => { seen.push(type); } : undefined)));
    const ok = connect(srv.port, '127.0.0.1');
    ok.write(Buffer.concat([frameHeader(FRAME.hello, [3]), frameHeader(FRAME.signals, [7, 1]), frameHeader(FRAME.signals, [8, 2])]));
    const refused = connect(srv.port, '127.0.0.1');
    refused.on('error', () => {});
    refused.write(frameHeader(FRAME.hello, [4]));
    await new Promise<void>((r) => refused.on('close', () => r()));
    await new Promise<void>((r) => { const t = setInterval(() => { if (seen.length >= 2) { clearInterval(t); r(); } }, 2); });
    ok.destroy();
    srv.close();
    assert.deepEqual(seen, [FRAME.signals, FRAME.signals]);
  });
});
