/**
 * node-llama-cpp as an on-demand reference (CPU-FACTS.md §4): pinned to 3.21.1 and installed into
 * `<project>/.cache/llamacpp` (git-ignored), never into the project's own dependencies. Only the
 * prebuilt binary package for this platform is installed (--omit=optional skips the CUDA, Vulkan
 * and other platforms' prebuilts: ~80 MB instead of ~730 MB); install scripts are not needed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XdsError } from '../core/errors.js';

export const NODE_LLAMA_CPP_VERSION = '3.21.1';

/** The project root: this file is src/llamacpp/install.ts or dist/llamacpp/install.js. */
export function projectRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

export function defaultLlamaCppDir(): string {
  return process.env['XDS_LLAMACPP_DIR'] ?? join(projectRoot(), '.cache', 'llamacpp');
}

/** The prebuilt-binary package for this platform, or null where node-llama-cpp has none. */
export function prebuiltPackage(platform = process.platform, arch = process.arch): string | null {
  const names: Record<string, string> = {
    'linux-x64': 'linux-x64', 'linux-arm64': 'linux-arm64', 'darwin-arm64': 'mac-arm64-metal',
    'darwin-x64': 'mac-x64', 'win32-x64': 'win-x64', 'win32-arm64': 'win-arm64',
  };
  const n = names[`${platform}-${arch}`];
  return n === undefined ? null : `@node-llama-cpp/${n}`;
}

function installedVersion(dir: string): string | null {
  const pkg = join(dir, 'node_modules', 'node-llama-cpp', 'package.json');
  if (!existsSync(pkg)) return null;
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string }).version ?? null;
}

export interface InstallResult {
  readonly dir: string;
  /** false when the pinned version was already there. */
  readonly installed: boolean;
  readonly seconds: number;
}

/** Installs node-llama-cpp@3.21.1 into `dir` unless it is already there. */
export function ensureLlamaCpp(dir = defaultLlamaCppDir(), log: (line: string) => void = () => {}): InstallResult {
  const t0 = performance.now();
  if (installedVersion(dir) === NODE_LLAMA_CPP_VERSION) return { dir, installed: false, seconds: 0 };
  mkdirSync(dir, { recursive: true });
  const deps: Record<string, string> = { 'node-llama-cpp': NODE_LLAMA_CPP_VERSION };
  const prebuilt = prebuiltPackage();
  if (prebuilt !== null) deps[prebuilt] = NODE_LLAMA_CPP_VERSION;
  const pkg = { name: 'xdeepserve-llamacpp-reference', private: true, type: 'module', dependencies: deps };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  const args = ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock'];
  if (prebuilt !== null) args.push('--omit=optional');
  log(`installing node-llama-cpp@${NODE_LLAMA_CPP_VERSION} into ${dir} (npm ${args.join(' ')})`);
  try {
    execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new XdsError('internal', `installing node-llama-cpp@${NODE_LLAMA_CPP_VERSION} failed: ${stderr.trim().split('\n').slice(-3).join(' | ')}`, { cause: e });
  }
  if (installedVersion(dir) !== NODE_LLAMA_CPP_VERSION) throw new XdsError('internal', `node-llama-cpp not found in ${dir} after npm install`);
  return { dir, installed: true, seconds: (performance.now() - t0) / 1000 };
}
