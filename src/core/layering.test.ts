/**
 * The module layering of ARCHITECTURE.md ("Dependencies point one way": core, config → model,
 * kernels → units, kvcache, xccl → flowserve → disagg → cluster → gateway → cli), checked on the
 * source: every relative import (static, `export … from`, dynamic `import()`) of every
 * src/**\/*.ts file may point to its own layer or a lower one, never a higher one. Test files and
 * testing helpers (`*.test.ts`, `…/testing/…`, `…/testing.ts`) may import anything. sampling/ sits
 * with units/kvcache, serving/ and bench/ with gateway, llamacpp/ (a tool) and sim/ with cli.
 * Reads the .ts sources, so it runs the same from src/ (tsx) and from dist/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Layer of each top-level folder of src/; higher may import lower. */
const LAYERS: Readonly<Record<string, number>> = {
  core: 0, config: 0,
  model: 1, kernels: 1,
  units: 2, kvcache: 2, xccl: 2, sampling: 2,
  flowserve: 3,
  disagg: 4,
  cluster: 5,
  gateway: 6, serving: 6, bench: 6,
  cli: 7, llamacpp: 7, sim: 7,
};

/**
 * Imports against the order that exist today in files this consolidation pass does not own, as
 * `from -> to`. NOTE: this list may only shrink; a new violation fails the test.
 */
const KNOWN_VIOLATIONS: ReadonlySet<string> = new Set<string>([]); // none at the time of writing

const here = dirname(fileURLToPath(import.meta.url));
/** src/ whether this runs as src/core/layering.test.ts or dist/core/layering.test.js. */
const srcRoot = resolve(here, '..', '..', 'src');

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listTs(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;

/** Relative specifiers a file imports (comments are not stripped: a commented import still counts). */
function relativeImports(text: string): string[] {
  return [...text.matchAll(IMPORT_RE)].map((m) => m[1]!);
}

function topFolder(pathUnderSrc: string): string {
  return pathUnderSrc.split(sep)[0]!;
}

function isTestOnly(pathUnderSrc: string): boolean {
  const parts = pathUnderSrc.split(sep);
  const name = parts[parts.length - 1]!;
  return name.endsWith('.test.ts') || name === 'testing.ts' || parts.includes('testing');
}

interface Edge { readonly from: string; readonly to: string; readonly fromLayer: string; readonly toLayer: string }

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of listTs(srcRoot)) {
    const from = relative(srcRoot, file);
    if (isTestOnly(from) || !from.includes(sep)) continue;
    for (const spec of relativeImports(readFileSync(file, 'utf8'))) {
      const to = relative(srcRoot, resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      if (to.startsWith('..') || !to.includes(sep)) continue;
      out.push({ from, to, fromLayer: topFolder(from), toLayer: topFolder(to) });
    }
  }
  return out;
}

test('the import scanner sees static, re-export and dynamic imports, and only relative ones', () => {
  const text = "import { a } from '../x/a.js';\nexport { b } from './b.js';\nconst c = await import('../../c/c.js');\n" +
    "import type { D } from 'node:fs';\nimport './side-effect.js';";
  assert.deepEqual(relativeImports(text), ['../x/a.js', './b.js', '../../c/c.js', './side-effect.js']);
});

test('every top-level folder of src/ has a layer', () => {
  assert.ok(existsSync(srcRoot), `src/ not found at ${srcRoot}`);
  const folders = readdirSync(srcRoot, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  const unknown = folders.filter((f) => LAYERS[f] === undefined);
  assert.deepEqual(unknown, [], `add these folders to LAYERS in src/core/layering.test.ts (ARCHITECTURE.md order): ${unknown.join(', ')}`);
});

test('imports point down the layering of ARCHITECTURE.md (tests and testing helpers excepted)', (t) => {
  const all = edges();
  assert.ok(all.length > 100, `only ${all.length} imports found: is the scanner broken?`);
  const against = all.filter((e) => (LAYERS[e.toLayer] ?? -1) > (LAYERS[e.fromLayer] ?? Infinity));
  const names = [...new Set(against.map((e) => `${e.from} -> ${e.to}`))].sort();
  const fresh = names.filter((n) => !KNOWN_VIOLATIONS.has(n));
  for (const gone of [...KNOWN_VIOLATIONS].filter((n) => !names.includes(n))) t.diagnostic(`fixed, remove from KNOWN_VIOLATIONS: ${gone}`);
  assert.deepEqual(fresh, [], `imports against the layering (${Object.entries(LAYERS).map(([k, v]) => `${k}=${v}`).join(' ')}):\n${fresh.join('\n')}`);
});
