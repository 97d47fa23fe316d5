/**
 * Small string helpers for streaming parsers (output process, paper notes §2.5.1): how much of a
 * text's end must be held back because it could still grow into a marker (`<think>`, a stop
 * string, `<tool_call>`), and where trailing whitespace starts.
 */

/** Length of the longest suffix of `text` that is a proper prefix of one of `markers` (0 if none). */
export function partialMarkerLength(text: string, markers: readonly string[]): number {
  let best = 0;
  for (const m of markers) {
    const max = Math.min(m.length - 1, text.length);
    for (let n = max; n > best; n--) {
      if (text.endsWith(m.slice(0, n))) {
        best = n;
        break;
      }
    }
  }
  return best;
}

/** The earliest occurrence of any marker at or after `from` (the shorter on a tie: a stream sees it first), or null. */
export function findFirstMarker(text: string, markers: readonly string[], from = 0): { index: number; marker: string } | null {
  let best: { index: number; marker: string } | null = null;
  for (const marker of markers) {
    const index = text.indexOf(marker, from);
    if (index < 0 || (best !== null && (index > best.index || (index === best.index && marker.length >= best.marker.length)))) continue;
    best = { index, marker };
  }
  return best;
}

/** Index where the trailing whitespace of `text` starts (text.length when none). */
export function trailingWhitespaceStart(text: string): number {
  return text.trimEnd().length;
}
