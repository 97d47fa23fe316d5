// Builds every native addon: each folder native/NAME/ with C/C++ sources becomes build/NAME.node.
// Runs as the project's own install step with the system compiler and Node's headers (no
// download). Failure is not fatal: the TypeScript fallbacks run and one warning says why.
import { readdirSync, statSync, mkdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const outDir = join(root, 'build');
const includeDirs = [join(process.execPath, '..', '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
const nodeInclude = includeDirs.find((d) => existsSync(join(d, 'node_api.h')));

function buildAddon(name) {
  const dir = join(nativeDir, name);
  const sources = readdirSync(dir).filter((f) => /\.(c|cc|cpp)$/.test(f)).map((f) => join(dir, f));
  if (sources.length === 0) return true;
  const isCxx = sources.some((f) => !f.endsWith('.c'));
  const compiler = process.env.CXX && isCxx ? process.env.CXX : isCxx ? 'g++' : (process.env.CC ?? 'gcc');
  const out = join(outDir, `${name}.node`);
  // Baseline x86-64-v3 (AVX2/FMA/F16C) where the compiler targets x86; wider ISAs are chosen at
  // run time inside the sources with target attributes and __builtin_cpu_supports.
  const arch = process.arch === 'x64' ? ['-mavx2', '-mfma', '-mf16c'] : [];
  const args = ['-O3', '-shared', '-fPIC', '-pthread', `-I${nodeInclude}`, `-I${dir}`, ...arch, '-o', out, ...sources, '-lm'];
  const r = spawnSync(compiler, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    console.warn(`xdeepserve: native addon '${name}' did not build (${compiler} exited ${r.status ?? r.error?.message}); the TypeScript fallback will run.`);
    return false;
  }
  console.log(`xdeepserve: built ${out}`);
  return true;
}

if (!existsSync(nativeDir)) process.exit(0);
if (!nodeInclude) {
  console.warn('xdeepserve: node_api.h not found; native addons skipped, the TypeScript fallback will run.');
  process.exit(0);
}
mkdirSync(outDir, { recursive: true });
const only = process.argv.slice(2);
for (const name of readdirSync(nativeDir)) {
  if (only.length && !only.includes(name)) continue;
  if (statSync(join(nativeDir, name)).isDirectory()) buildAddon(name);
}
