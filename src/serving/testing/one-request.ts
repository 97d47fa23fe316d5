/** Test helper: one request through a loaded model's engine, start to drain. */
import type { ServedModel } from '../served-model.js';

/** Starts the engine, runs one request to its end, drains; resolves to the tokens it streamed. */
export async function tokensOfOneRequest(m: ServedModel, promptTokenIds: number[], maxTokens: number): Promise<number> {
  m.engine.start();
  const n = await new Promise<number>((resolve) => {
    let k = 0;
    m.engine.addRequest({ id: 'a', promptTokenIds, maxTokens }, (ev) => { if (ev.kind === 'token') k++; if (ev.kind === 'finished') resolve(k); });
  });
  await m.engine.drain();
  return n;
}
