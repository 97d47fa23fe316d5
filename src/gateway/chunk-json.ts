/**
 * Stream chunks serialized without building an object per token (the SSE output path of issue 4,
 * paper §1.3 step 9): the constant head of a response's chunks (`id`, `object`, `created`, `model`,
 * `system_fingerprint`) is serialized once, and a delta chunk is that prefix + one choice + the
 * tail. The text is byte-identical to `JSON.stringify({...head, choices: [choice], usage: null})`
 * (same key order); chunk-json.test.ts checks it against JSON.stringify.
 */

/** A chunk already serialized as JSON: SseWriter writes it as is. */
export class RawJson {
  constructor(readonly json: string) {}
}

/** Serializes `{...head, choices: [<choice>], usage: null}` around an already serialized choice. */
export type ChunkSerializer = (choiceJson: string) => RawJson;

export function chunkSerializer(head: Readonly<Record<string, unknown>>): ChunkSerializer {
  const h = JSON.stringify(head);
  const prefix = `${h.slice(0, -1)}${h === '{}' ? '' : ','}"choices":[`;
  return (choiceJson) => new RawJson(`${prefix}${choiceJson}],"usage":null}`);
}

/** `{"index":i,"text":"...","logprobs":null,"finish_reason":null}` (completions, no logprobs). */
export function textChoiceJson(index: number, text: string): string {
  return `{"index":${index},"text":${JSON.stringify(text)},"logprobs":null,"finish_reason":null}`;
}

/** `{"index":i,"delta":{"content":"..."},"logprobs":null,"finish_reason":null}` (chat, content only). */
export function contentDeltaChoiceJson(index: number, content: string): string {
  return `{"index":${index},"delta":{"content":${JSON.stringify(content)}},"logprobs":null,"finish_reason":null}`;
}
