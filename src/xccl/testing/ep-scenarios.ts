/** EP scenarios (dispatch/combine, a2e/e2a) for the conformance suite; filled in with ep/. */
import type { Communicator } from '../communicator.js';

export const EP_SCENARIOS: Record<string, (comm: Communicator, params: unknown) => Promise<unknown>> = {};
