/** Conformance of `shm` between worker-thread ranks (SharedArrayBuffer regions). */
import { conformanceSuite } from '../testing/conformance.js';

conformanceSuite('shm-thread');
