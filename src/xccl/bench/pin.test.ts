/**
 * Rank pinning for latency benchmarks (`bench xccl --pin`): with `pinCpus`, rank i of real worker
 * threads and real child processes runs on CPU i mod ncpu, as the kernel reports it; without, the
 * ranks keep the whole allowed set.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launchRanks, type LaunchKind, type RankResult } from '../testing/launch.js';
import { loadXcclAddon } from '../shm/process.js';

const region = { worldSize: 2, slotBytes: 4096, numSlots: 2, epAreaBytes: 0 };
const isLinux = process.platform === 'linux';
const hasPin = loadXcclAddon(true)?.pinThread !== undefined;

/** The allowed CPUs of this process ("0-1" → [0, 1]). */
function allowedCpus(): number[] {
  const list = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';
  return list.split(',').flatMap((r) => {
    const [a, b] = r.split('-').map(Number);
    return Array.from({ length: (b ?? a!) - a! + 1 }, (_, i) => a! + i);
  });
}

function okValues(rs: readonly RankResult[]): { value: unknown; cpu: number | undefined }[] {
  return rs.map((r, i) => {
    assert.ok(r.ok, `rank ${i}: ${r.ok ? '' : r.message}`);
    return { value: r.value, cpu: r.cpu };
  });
}

for (const kind of ['shm-thread', 'tcp'] as LaunchKind[]) {
  test(`${kind}: pinCpus binds rank i to CPU i mod ncpu`, { skip: !isLinux || !hasPin }, async () => {
    const cpus = allowedCpus();
    const rs = okValues(await launchRanks(kind, { region, scenario: 'affinity', pinCpus: true, killAfterMs: 20_000 }));
    rs.forEach((r, i) => {
      const want = cpus[i % cpus.length]!;
      assert.equal(r.cpu, want, `rank ${i} reported cpu`);
      assert.equal(r.value, String(want), `rank ${i} kernel affinity`);
    });
  });
}

test('shm-thread: without pinCpus the ranks keep every allowed CPU', { skip: !isLinux }, async () => {
  const all = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  const rs = okValues(await launchRanks('shm-thread', { region, scenario: 'affinity', killAfterMs: 20_000 }));
  for (const r of rs) {
    assert.equal(r.cpu, undefined);
    assert.equal(r.value, all);
  }
});
