/**
 * Test helper: an in-memory WeightSource with random weights for every tensor of
 * referenceTensorShapes(spec), initialized per MODELS.md §9.1 (linear N(0, 1/fan_in), embeddings
 * N(0,1), norms 1 + 0.2·N(0,1), biases 0.1·N(0,1), router N(0, 4/D), correction bias 0.3·N(0,1)),
 * from a seeded PRNG. Also `memoryWeights` for hand-built tensors. Used by the reference's own tests.
 */
import { XdsError } from '../../../core/errors.js';
import type { ModelSpec } from '../../../config/model-spec.js';
import type { StorageDType, Tensor, WeightSource } from '../../tensor.js';
import { referenceTensorShapes } from '../tensor-list.js';

/** A WeightSource over plain tensors held in a Map. */
export function memoryWeights(tensors: Iterable<Tensor>): WeightSource {
  const map = new Map<string, Tensor>();
  for (const t of tensors) map.set(t.name, t);
  return {
    has: (name) => map.has(name),
    get: (name) => {
      const t = map.get(name);
      if (!t) throw new XdsError('checkpoint_missing', `tensor ${name} is missing`, { param: name });
      return t;
    },
    names: () => [...map.keys()],
  };
}

/** An f32 tensor from plain numbers. */
export function f32Tensor(name: string, shape: number[], values: ArrayLike<number>): Tensor {
  return { name, dtype: 'f32' as StorageDType, shape, data: Float32Array.from(values) };
}

/** mulberry32 uniform PRNG + Box–Muller normals. */
export function normalSampler(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

function initFor(name: string, shape: number[], D: number, normal: () => number): () => number {
  if (name.endsWith('norm.weight')) return () => 1 + 0.2 * normal();
  if (name.endsWith('e_score_correction_bias')) return () => 0.3 * normal();
  if (name.endsWith('.bias')) return () => 0.1 * normal();
  if (name.endsWith('embed_tokens.weight')) return normal;
  if (/(block_sparse_moe|mlp)\.gate\.weight$/.test(name)) return () => normal() * Math.sqrt(4 / D);
  const fanIn = shape[shape.length - 1]!;
  return () => normal() / Math.sqrt(fanIn);
}

/** Random f32 weights for every tensor the spec's checkpoint holds (MODELS.md §9.1 init). */
export function randomWeights(spec: ModelSpec, seed: number): WeightSource {
  const normal = normalSampler(seed);
  const tensors: Tensor[] = [];
  for (const [name, shape] of referenceTensorShapes(spec)) {
    const init = initFor(name, shape, spec.hiddenSize, normal);
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = init();
    tensors.push({ name, dtype: 'f32', shape, data });
  }
  return memoryWeights(tensors);
}
