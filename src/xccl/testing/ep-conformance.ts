/** EP part of the conformance suite (dispatch/combine, INT8, a2e/e2a); filled in with ep/. */
import type { LaunchKind } from './launch.js';

export const EP_CONFORMANCE: Record<string, (kind: LaunchKind) => Promise<void>> = {};
