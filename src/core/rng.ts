/**
 * Seeded pseudo-random numbers for the whole project: the tiny/small random checkpoints
 * (MODELS.md §9.1, model/generator/), per-request sampling seeds (sampling/) and benchmark
 * clients. xoshiro128** (32-bit state words, exact in JS integer arithmetic) seeded through
 * splitmix32 from a 32-bit FNV-1a hash of (seed, stream name), so every tensor has its own stream
 * and its values do not depend on the order tensors are generated in. Normals by Marsaglia's polar
 * method. It sits in core/ because both model/ and sampling/ use it (ARCHITECTURE.md layering).
 */

/** FNV-1a over the UTF-16 code units of `text`, 32-bit. */
export function hash32(text: string, init = 0x811c9dc5): number {
  let h = init >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) >>> 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

export class Rng {
  // NOTE: the xoshiro state lives in an Int32Array so V8 keeps it unboxed (uint32 values in plain
  // fields become heap numbers and make each draw ~10x slower).
  private readonly s = new Int32Array(4);
  private spare = 0;
  private hasSpare = false;

  /** `seed` is any integer (only its low 53 bits matter); `stream` separates independent streams. */
  constructor(seed: number, stream = '') {
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 2 ** 32) >>> 0;
    const st = { s: hash32(stream, hash32(`${lo}:${hi}`)) };
    for (let i = 0; i < 4; i++) this.s[i] = splitmix32(st);
    if ((this.s[0]! | this.s[1]! | this.s[2]! | this.s[3]!) === 0) this.s[0] = 1;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const s0 = s[0]!, s1 = s[1]!, s2 = s[2]! ^ s0, s3 = s[3]! ^ s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    s[0] = s0 ^ s3;
    s[1] = s1 ^ s2;
    s[2] = s2 ^ (s1 << 9);
    s[3] = rotl(s3, 11);
    return result >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal N(0, 1) (Marsaglia's polar method: no trigonometry, both outputs used). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    let x = 0, y = 0, r2 = 0;
    do {
      x = this.nextU32() * 4.656612873077393e-10 - 1; // [-1, 1)
      y = this.nextU32() * 4.656612873077393e-10 - 1;
      r2 = x * x + y * y;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt((-2 * Math.log(r2)) / r2);
    this.spare = y * f;
    this.hasSpare = true;
    return x * f;
  }

  /** Fills `out` with mean + std·N(0,1). */
  fillNormal(out: Float32Array, std = 1, mean = 0): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = mean + std * this.normal();
    return out;
  }
}
