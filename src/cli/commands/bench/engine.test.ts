/**
 * `bench engine`: with the fake runner (no --model) `--json` prints one parseable JSON object with
 * the scheduler fraction; the same through the real binary when running from dist/; bad flags are
 * XdsErrors naming the flag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isXdsError } from '../../../core/errors.js';
import { runEngineBench } from './engine.js';

const SMALL = ['--requests', '4', '--prompt', '5', '--steps', '3'];

interface BenchJson { kind: string; runner: string; numRequests: number; numMeasuredSteps: number; schedulerUs: number; stepUs: number; schedulerFraction: number; kvUsage: number }

function checkJson(text: string): void {
  const r = JSON.parse(text) as BenchJson;
  assert.equal(r.kind, 'bench_engine');
  assert.equal(r.runner, 'fake');
  assert.equal(r.numRequests, 4);
  assert.equal(r.numMeasuredSteps, 3);
  assert.ok(r.schedulerFraction > 0 && r.schedulerFraction <= 1, `schedulerFraction ${r.schedulerFraction}`);
  assert.ok(Math.abs(r.schedulerFraction - r.schedulerUs / r.stepUs) < 1e-12);
  assert.ok(r.kvUsage > 0 && r.kvUsage <= 1, `kvUsage ${r.kvUsage}`);
}

test('bench engine --json with the fake runner prints JSON with schedulerFraction', async () => {
  let out = '';
  await runEngineBench([...SMALL, '--json'], (t) => { out += t; });
  checkJson(out);
  let line = '';
  await runEngineBench(SMALL, (t) => { line += t; });
  assert.match(line, /^fake runner \(forward 0 µs\): 4 running, 3 decode steps: .* scheduler [\d.]+% of step/);
});

const fromDist = import.meta.url.endsWith('.js');
test('xdeepserve bench engine --json through the binary', { skip: fromDist ? false : 'runs from dist/ (npm run build) only' }, () => {
  const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'bin', 'xdeepserve.js');
  const r = spawnSync(process.execPath, [bin, 'bench', 'engine', ...SMALL, '--json'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  checkJson(r.stdout);
});

test('bench engine names bad flags', async () => {
  const run = (...argv: string[]): Promise<void> => runEngineBench(argv, () => {});
  await assert.rejects(run('--requests', '0'), (e) => isXdsError(e, 'invalid_argument') && e.param === 'requests');
  await assert.rejects(run('--steps', '2.5'), (e) => isXdsError(e, 'invalid_argument') && e.param === 'steps');
  await assert.rejects(run('--backend', 'native'), (e) => isXdsError(e, 'invalid_argument') && e.param === 'backend');
  await assert.rejects(run('--model', '/x', '--backend', 'gpu'), (e) => isXdsError(e) && e.param === 'backend');
  await assert.rejects(run('--model', '/nonexistent-xds-model'), (e) => isXdsError(e, 'checkpoint_missing'));
  await assert.rejects(run('--bogus'), (e) => isXdsError(e, 'invalid_argument'));
});
