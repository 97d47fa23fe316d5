/**
 * Seeded pseudo-random numbers of the random checkpoint generator (MODELS.md §9.1). The PRNG
 * itself lives in core/rng.ts (sampling/ uses it too); this re-export keeps the generator's
 * imports and its byte-identical output unchanged.
 */
export { hash32, Rng } from '../../core/rng.js';
