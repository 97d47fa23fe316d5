/**
 * Well-formed UTF-8, byte by byte (RFC 3629: no overlong forms, surrogates or code points past
 * U+10FFFF), for string text under the JSON constraint; control bytes are refused too, as JSON
 * strings refuse them. Its state is three small integers, copied with the recognizer's.
 */
export class Utf8Check {
  /** Continuation bytes the current character still needs (0: between characters). */
  need = 0;
  /** The next continuation byte's range (narrower after E0, ED, F0, F4). */
  private lo = 0x80;
  private hi = 0xbf;

  /** Takes b as the next byte of text; false when it cannot come here. */
  accept(b: number): boolean {
    if (this.need > 0) {
      if (b < this.lo || b > this.hi) return false;
      this.need--;
      this.lo = 0x80;
      this.hi = 0xbf;
      return true;
    }
    if (b < 0x80) return b >= 0x20;
    if (b >= 0xc2 && b <= 0xdf) this.need = 1;
    else if (b >= 0xe0 && b <= 0xef) { this.need = 2; if (b === 0xe0) this.lo = 0xa0; else if (b === 0xed) this.hi = 0x9f; }
    else if (b >= 0xf0 && b <= 0xf4) { this.need = 3; if (b === 0xf0) this.lo = 0x90; else if (b === 0xf4) this.hi = 0x8f; }
    else return false;
    return true;
  }

  copyFrom(o: Utf8Check): void {
    this.need = o.need;
    this.lo = o.lo;
    this.hi = o.hi;
  }
}
