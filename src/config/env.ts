/**
 * The one module that reads the environment (STYLE.md §8; mini-sglang's settings file). Everything
 * else receives these values as options.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface XdsEnv {
  /** Where generated models are cached: $XDS_CACHE_DIR, else $XDG_CACHE_HOME/xdeepserve, else ~/.cache/xdeepserve. */
  readonly cacheDir: string;
  /** Log level of the gateway logger ($XDS_LOG_LEVEL, default 'info'). */
  readonly logLevel: string;
  /** Weights, GEMM panels and the KV cache on transparent huge pages ($XDS_HUGE_PAGES, default on; '0' turns it off). */
  readonly hugePages: boolean;
  /** The key clients must send as `Authorization: Bearer …` ($XDS_API_KEY; `serve --api-key` wins), or none. */
  readonly apiKey: string | undefined;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

/** Reads the environment once per call (tests pass their own `env`). */
export function readEnv(env: NodeJS.ProcessEnv = process.env): XdsEnv {
  const explicit = nonEmpty(env['XDS_CACHE_DIR']);
  const xdg = nonEmpty(env['XDG_CACHE_HOME']);
  const cacheDir = explicit ?? join(xdg ?? join(homedir(), '.cache'), 'xdeepserve');
  return Object.freeze({ cacheDir, logLevel: nonEmpty(env['XDS_LOG_LEVEL']) ?? 'info', hugePages: env['XDS_HUGE_PAGES'] !== '0', apiKey: nonEmpty(env['XDS_API_KEY']) });
}
