/** Conformance of `tcp` (real child processes). */
import { conformanceSuite } from '../testing/conformance.js';

conformanceSuite('tcp');
