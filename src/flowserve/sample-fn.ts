/**
 * The engine's default SampleFn over sampling/sampler.ts: one RequestSampler per request (its own
 * seeded PRNG and token history), created at the request's first sample and dropped with it.
 * The engine depends only on the SampleFn type, never on the sampler's internals.
 */
import { XdsError } from '../core/errors.js';
import { RequestSampler, type LogitsConstraint } from '../sampling/sampler.js';
import { JsonObjectConstraint, type TokenBytesIndex } from '../sampling/json-constraint.js';
import { compileSchema, type SchemaNode } from '../sampling/json-schema.js';
import type { SampleFn } from './engine-types.js';
import type { Request } from './request.js';

export interface SamplerFnOptions {
  /** The vocabulary's bytes, for response_format json_object (called once, at the first such request). */
  readonly tokenBytes?: () => TokenBytesIndex;
}

export function requestSamplerFn(o: SamplerFnOptions = {}): SampleFn {
  const samplers = new WeakMap<Request, RequestSampler>();
  let index: TokenBytesIndex | undefined;
  const schemas = new WeakMap<object, SchemaNode>(); // one compile per request body (its n choices share it)
  const constraintOf = (req: Request): LogitsConstraint | null => {
    const { responseFormat, jsonSchema } = req.sampling;
    if (responseFormat !== 'json_object') return null;
    if (o.tokenBytes === undefined) throw new XdsError('invalid_argument', 'response_format json_object needs the tokenizer, which this engine was not given', { param: 'response_format' });
    index ??= o.tokenBytes();
    if (jsonSchema === null) return new JsonObjectConstraint(index, req.stopTokenIds);
    let node = schemas.get(jsonSchema);
    if (node === undefined) schemas.set(jsonSchema, node = compileSchema(jsonSchema, 'response_format'));
    return new JsonObjectConstraint(index, req.stopTokenIds, node);
  };
  return (logits, req) => {
    let s = samplers.get(req);
    if (s === undefined) {
      s = new RequestSampler(req.sampling, req.promptTokenIds, req.stopTokenIds, constraintOf(req));
      s.replayOutput(req.outputTokenIds);
      samplers.set(req, s);
    }
    // NOTE: no logprob unless asked for: nothing downstream reports it (the gateway shows logprobs only when requested).
    return req.sampling.logprobs === null ? { tokenId: s.sampleToken(logits) } : s.sample(logits);
  };
}

/** Argmax (lowest id on ties), no logprobs: the cheapest SampleFn, for tests and benchmarks. */
export const greedySampleFn: SampleFn = (logits) => {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return { tokenId: best };
};
