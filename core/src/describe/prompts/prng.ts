import { createHash } from 'node:crypto';

/**
 * The prompt stage's seeded generator: xoshiro128** (Blackman and Vigna, 2018) over four 32-bit words taken from
 * SHA-256 of a text key. Hashing the key (which spells the run's seed, the feature key, the sign and the prompt
 * variant) makes every (feature, sign) draw independent of every other and of the order features are processed in,
 * and nearby seeds give unrelated streams. Integers in [0, n) come from rejection sampling, so they are exactly
 * uniform. The output depends only on the key: same key, same numbers, on every platform.
 */
export class SeededRandom {
  private readonly state: Uint32Array;

  constructor(key: string) {
    const digest = createHash('sha256').update(key, 'utf8').digest();
    this.state = new Uint32Array(4);
    for (let i = 0; i < 4; i++) this.state[i] = digest.readUInt32LE(4 * i);
    // xoshiro's one forbidden state; SHA-256 giving 128 zero bits is not a practical concern, but be total.
    if (this.state.every((word) => word === 0)) this.state[0] = 1;
  }

  /** A generator in a given state (four 32-bit words, not all zero): for checking against published outputs. */
  static fromState(words: readonly [number, number, number, number]): SeededRandom {
    if (words.every((w) => w === 0)) throw new RangeError('SeededRandom.fromState: the state must not be all zero');
    const random = new SeededRandom('');
    random.state.set(words.map((w) => w >>> 0));
    return random;
  }

  /** The next 32-bit output (xoshiro128**). */
  nextUint32(): number {
    const s = this.state;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** A uniform integer in [0, n), n a positive integer up to 2^32 (rejection sampling: no modulo bias). */
  below(n: number): number {
    if (!Number.isSafeInteger(n) || n < 1 || n > 2 ** 32)
      throw new RangeError(`SeededRandom.below: n must be an integer in [1, 2^32], got ${n}`);
    const limit = Math.floor(2 ** 32 / n) * n;
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** A uniform integer in [min, max] (both included). */
  between(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
