/**
 * Loads a native addon built by scripts/build-native.mjs (build/NAME.node). Returns null, with
 * one warning per addon, when it is missing or fails to load, so callers fall back to TypeScript.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';

const require = createRequire(import.meta.url);
const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cache = new Map<string, unknown>();

export function loadNativeAddon<T>(name: string, opts: { quiet?: boolean } = {}): T | null {
  if (cache.has(name)) return cache.get(name) as T | null;
  const path = join(projectRoot, 'build', `${name}.node`);
  let addon: T | null = null;
  let why = '';
  if (process.env.XDS_NO_NATIVE === '1') why = 'XDS_NO_NATIVE=1';
  else if (!existsSync(path)) why = `${path} is missing (run 'npm run build:native')`;
  else {
    try {
      addon = require(path) as T;
    } catch (e) {
      why = `loading ${path} failed: ${(e as Error).message}`;
    }
  }
  if (!addon && !opts.quiet && process.env.XDS_NO_NATIVE !== '1') process.emitWarning(`native addon '${name}' unavailable: ${why}; using the TypeScript fallback`);
  cache.set(name, addon);
  return addon;
}
