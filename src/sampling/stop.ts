/**
 * Stop conditions of one request on token ids: stop token ids (EOS and user `stop_token_ids`) and
 * max tokens. Stop strings act on text, so they belong to the output process:
 * flowserve/output/stop-strings.ts.
 */

export type FinishReason = 'stop' | 'length';

export interface StopConditions {
  /** Generation ends after emitting any of these (the token counts as generated, its text is not shown). */
  readonly stopTokenIds: readonly number[];
  /** Maximum number of generated tokens. */
  readonly maxTokens: number;
}

/** Why generation ends after `tokenId`, the `numGenerated`-th token, or null to go on. */
export function checkStopToken(tokenId: number, numGenerated: number, c: StopConditions): FinishReason | null {
  if (c.stopTokenIds.includes(tokenId)) return 'stop';
  if (numGenerated >= c.maxTokens) return 'length';
  return null;
}
