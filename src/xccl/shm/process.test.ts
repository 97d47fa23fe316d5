/** Conformance of `shm-process` (real child processes). */
import { conformanceSuite } from '../testing/conformance.js';

conformanceSuite('shm-process');
