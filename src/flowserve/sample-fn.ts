/**
 * The engine's default SampleFn over sampling/sampler.ts: one RequestSampler per request (its own
 * seeded PRNG and token history), created at the request's first sample and dropped with it.
 * The engine depends only on the SampleFn type, never on the sampler's internals.
 */
import { RequestSampler } from '../sampling/sampler.js';
import type { SampleFn } from './engine-types.js';
import type { Request } from './request.js';

export function requestSamplerFn(): SampleFn {
  const samplers = new WeakMap<Request, RequestSampler>();
  return (logits, req) => {
    let s = samplers.get(req);
    if (s === undefined) {
      s = new RequestSampler(req.sampling, req.promptTokenIds, req.stopTokenIds);
      for (const t of req.outputTokenIds) s.history.recordOutput(t);
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
