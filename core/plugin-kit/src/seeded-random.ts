import { createHash } from 'node:crypto';

/**
 * The one seeded pseudo-random generator of expgen and its plugins (statistics, prompt sampling, tiny models, token
 * sampling, tests, benchmarks): **SFC32** (Chris Doty-Humphrey's "small fast counting"
 * generator, 32-bit variant, shifts 21 / 9 / 3, 128 bits of state of which 32 are a counter, so no seed falls on a
 * short cycle), seeded exactly as PractRand's `sfc32::seed(Uint64 s)`: a = 0, b = low 32 bits of s, c = high 32 bits,
 * counter = 1, then 12 outputs discarded.
 *
 * It passes PractRand and BigCrush; it is not cryptographic, which bootstrap resampling and shuffles do not need.
 * The same seed gives the same stream on every platform (pure 32-bit integer arithmetic).
 */
export class Sfc32 {
  private a: number;
  private b: number;
  private c: number;
  private counter: number;
  /** The second normal of the last Box–Muller pair. */
  private spare: number | null = null;

  /** @param seed an integer in [0, 2^53 − 1] (a JavaScript safe integer); anything else is a RangeError. */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new RangeError(`Sfc32: seed must be an integer in [0, 2^53 - 1], got ${String(seed)}`);
    this.a = 0;
    this.b = seed >>> 0;
    this.c = Math.floor(seed / 2 ** 32) >>> 0;
    this.counter = 1;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** The next output, an integer in [0, 2^32). */
  nextUint32(): number {
    const tmp = (this.a + this.b + this.counter) >>> 0;
    this.counter = (this.counter + 1) >>> 0;
    this.a = (this.b ^ (this.b >>> 9)) >>> 0;
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = (((this.c << 21) | (this.c >>> 11)) + tmp) >>> 0;
    return tmp;
  }

  /**
   * A uniform integer in [0, bound), exactly (no modulo bias): outputs at or above the largest multiple of `bound`
   * not exceeding 2^32 are rejected and drawn again. `bound` must be an integer in [1, 2^32].
   */
  nextInt(bound: number): number {
    if (!Number.isInteger(bound) || bound < 1 || bound > 2 ** 32)
      throw new RangeError(`Sfc32.nextInt: bound must be an integer in [1, 2^32], got ${String(bound)}`);
    const limit = 2 ** 32 - (2 ** 32 % bound);
    for (;;) {
      const u = this.nextUint32();
      if (u < limit) return u % bound;
    }
  }

  /** A uniform float in [0, 1) with 53 random bits (two outputs). */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 2 ** 26 + lo) / 2 ** 53;
  }

  /** A uniform integer in [min, max], both included. */
  between(min: number, max: number): number {
    return min + this.nextInt(max - min + 1);
  }

  /** A standard normal value (Box–Muller; the second value of each pair is kept for the next call). */
  nextNormal(): number {
    if (this.spare !== null) {
      const value = this.spare;
      this.spare = null;
      return value;
    }
    // 1 - nextFloat() lies in (0, 1], so the logarithm is finite.
    const radius = Math.sqrt(-2 * Math.log(1 - this.nextFloat()));
    const angle = 2 * Math.PI * this.nextFloat();
    this.spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  /** `count` values `mean + std * N(0, 1)` as float32 (random weights of tiny models and test data). */
  normals(count: number, std = 1, mean = 0): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = mean + std * this.nextNormal();
    return out;
  }

  /**
   * A generator keyed by text: the seed is the first 53 bits of the key's SHA-256, so every key (a run's seed, a
   * feature, a sign, a prompt variant spelled out) has its own stream, independent of the order keys are used in,
   * and nearby keys give unrelated streams.
   */
  static fromKey(key: string): Sfc32 {
    const digest = createHash('sha256').update(key, 'utf8').digest();
    return new Sfc32(digest.readUInt32LE(0) + (digest.readUInt32LE(4) & 0x1fffff) * 2 ** 32);
  }
}
