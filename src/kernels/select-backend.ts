/**
 * Chooses the ComputeBackend at the edge (ARCHITECTURE.md "Kernels": the rest of the code never
 * knows which one runs). 'auto' takes the native addon when it loads and otherwise the reference
 * backend, with ONE warning saying why; 'native' insists on the addon; 'reference' never loads it.
 */
import { XdsError } from '../core/errors.js';
import { loadNativeAddon } from '../core/native.js';
import type { ComputeBackend } from './backend.js';
import { nativeBackend } from './native.js';
import { referenceBackend } from './reference.js';

export type BackendKind = 'auto' | 'native' | 'reference';

export interface SelectBackendOptions {
  readonly kind?: BackendKind;
  /** Native threads per kernel call; default: the cores available. */
  readonly numThreads?: number;
}

export const BACKEND_KINDS: readonly BackendKind[] = ['auto', 'native', 'reference'];

export function parseBackendKind(value: string | undefined, param = 'backend'): BackendKind {
  if (value === undefined) return 'auto';
  if ((BACKEND_KINDS as readonly string[]).includes(value)) return value as BackendKind;
  throw new XdsError('invalid_argument', `--${param} must be one of ${BACKEND_KINDS.join(', ')}, got '${value}'`, { param });
}

export function selectBackend(opts: SelectBackendOptions = {}): ComputeBackend {
  const kind = opts.kind ?? 'auto';
  if (kind === 'reference') return referenceBackend;
  if (kind !== 'auto' && kind !== 'native') parseBackendKind(kind);
  // loadNativeAddon emits the one warning (with the reason) the first time it fails.
  const native = nativeBackend({ ...(opts.numThreads === undefined ? {} : { numThreads: opts.numThreads }), quiet: kind === 'native' });
  if (native) return native;
  if (kind === 'native') {
    const why = process.env.XDS_NO_NATIVE === '1' ? 'XDS_NO_NATIVE=1 is set' : "build/kernels.node is missing or failed to load (run 'npm run build:native')";
    throw new XdsError('invalid_config', `the native kernel backend is unavailable: ${why}`, { param: 'backend' });
  }
  return referenceBackend;
}

/** True when the native addon loads (without warning). */
export function isNativeAvailable(): boolean {
  return loadNativeAddon('kernels', { quiet: true }) !== null;
}
