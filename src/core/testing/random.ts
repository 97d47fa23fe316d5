/**
 * The small seeded generator of test inputs (STYLE.md §11: tests are deterministic): mulberry32,
 * a 32-bit-state PRNG, good enough for random test data and cheaper to seed than core/rng.ts.
 * Test files and testing/ helpers use it instead of each defining their own.
 */

/** Uniform values in [0, 1) from a 32-bit seed (mulberry32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}


/** Seeded N(0,1) values: mulberry32 uniforms in (0, 1) through Box–Muller. */
export function normalSampler(seed: number): () => number {
  const next = mulberry32(seed);
  const uniform = (): number => next() + 0.5 / 4294967296;
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}
