/**
 * selectBackend: auto → native when the addon loads; reference when it is disabled; 'native'
 * without the addon is an XdsError saying why. Runs the disabled cases in a child process
 * (the addon cache is process-wide), from the source (tsx) or the compiled output alike.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { selectBackend, parseBackendKind } from './select-backend.js';
import { referenceBackend } from './reference.js';
import { isXdsError } from '../core/errors.js';

function runChild(code: string, env: Record<string, string>): { stdout: string; stderr: string; status: number | null } {
  const moduleUrl = new URL('./select-backend.js', import.meta.url).href;
  const script = `const m = await import(${JSON.stringify(moduleUrl)});\n${code}`;
  const r = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

test('auto picks the native backend when the addon is built; reference is always available', () => {
  const b = selectBackend({ kind: 'auto', numThreads: 1 });
  assert.match(b.name, /^native\((avx2|avx512-vnni), 1 threads\)$/);
  assert.equal(selectBackend({ kind: 'reference' }), referenceBackend);
});

test('with the addon disabled, auto falls back to the reference and native is an XdsError', () => {
  const r = runChild(
    `console.log(m.selectBackend({ kind: 'auto' }).name);
     try { m.selectBackend({ kind: 'native' }); console.log('no error'); } catch (e) { console.log(e.code, e.param, e.message); }`,
    { XDS_NO_NATIVE: '1' },
  );
  assert.equal(r.status, 0, r.stderr);
  const [auto, err] = r.stdout.trim().split('\n');
  assert.equal(auto, 'reference');
  assert.match(err ?? '', /^invalid_config backend .*XDS_NO_NATIVE=1/);
});

test('an unknown backend kind names the flag', () => {
  assert.throws(() => parseBackendKind('gpu'), (e) => isXdsError(e, 'invalid_argument') && e.param === 'backend');
  assert.equal(parseBackendKind(undefined), 'auto');
});
