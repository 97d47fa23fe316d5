/** Conformance of `shm` between child-process ranks (/dev/shm through the native addon). */
import { test } from 'node:test';
import { conformanceSuite } from '../testing/conformance.js';
import { loadXcclAddon } from './process.js';

if (loadXcclAddon(true)) conformanceSuite('shm-process');
else test('shm-process conformance needs build/xccl.node (npm run build:native)', { skip: 'native addon xccl unavailable' }, () => {});
