import { Sfc32 } from '../seeded-random.js';

export interface BootstrapOptions {
  /** Number of bootstrap resamples to draw, an integer >= 1 (e.g. 1,000). */
  readonly resamples: number;
  /** Seed of the generator (`Sfc32`), an integer in [0, 2^53 − 1]; the same seed gives the same interval. */
  readonly seed: number;
  /** Coverage of the interval, in (0, 1); default 0.95. */
  readonly level?: number;
  /**
   * Optional stratum label per unit (same length as the units). When given, each resample keeps every stratum's
   * size: position i of a resample is drawn uniformly from the units of unit i's stratum. Use it to keep the mix
   * of a pooled set fixed (e.g. 20 top exemplars and 5 random sequences stay 20 and 5). Without it, all units form
   * one stratum.
   */
  readonly strata?: readonly (string | number)[];
}

export interface BootstrapInterval {
  /** Lower end: the (1 − level)/2 quantile of the defined resampled statistics. */
  readonly low: number;
  /** Upper end: the (1 + level)/2 quantile of the defined resampled statistics. */
  readonly high: number;
  readonly level: number;
  /** Resamples drawn (the `resamples` option), defined or not. */
  readonly resamples: number;
  /** Resamples on which the statistic was undefined (null); they are dropped from the quantiles. */
  readonly undefinedResamples: number;
}

/**
 * The quantile q in [0, 1] of ascending `sorted` values by linear interpolation between order statistics
 * (Hyndman & Fan type 7, numpy's default): h = (m − 1) q, Q = v[⌊h⌋] + (h − ⌊h⌋)(v[⌊h⌋ + 1] − v[⌊h⌋]).
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const m = sorted.length;
  if (m === 0) throw new RangeError('quantile of no values');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: q must be in [0, 1], got ${q}`);
  const h = (m - 1) * q;
  const lo = Math.floor(h);
  if (lo >= m - 1) return sorted[m - 1]!;
  const frac = h - lo;
  const a = sorted[lo]!;
  return frac === 0 ? a : a + frac * (sorted[lo + 1]! - a);
}

/**
 * Percentile bootstrap confidence interval of `statistic` over `units` (for pooled scores, the units are
 * SEQUENCES, never tokens: tokens of one sequence are not independent).
 *
 * Each of `resamples` resamples draws `units.length` units uniformly with replacement (within strata when
 * `strata` is given) using `Sfc32(seed)`, in a fixed order: resample by resample, position by position, one
 * `nextInt` per position. The statistic is evaluated on each; resamples where it is null are dropped and counted
 * in `undefinedResamples`. The interval is [Q((1 − level)/2), Q((1 + level)/2)] of the defined values (see
 * `quantileSorted`).
 *
 * Null (no interval) when fewer than 2 units (every resample would repeat the one unit: a zero-width interval
 * that says nothing), or when fewer than half of the resamples are defined (2 · defined < resamples): the interval
 * would then describe an unrepresentative subset of resamples. The statistic must not return NaN or ±Infinity
 * (RangeError) and must not keep or modify the array it is given.
 */
export function bootstrapCI<T>(
  units: readonly T[],
  statistic: (sample: readonly T[]) => number | null,
  options: BootstrapOptions,
): BootstrapInterval | null {
  const { resamples, seed } = options;
  const level = options.level ?? 0.95;
  if (!Number.isInteger(resamples) || resamples < 1)
    throw new RangeError(`bootstrapCI: resamples must be an integer >= 1, got ${String(resamples)}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`bootstrapCI: level must be in (0, 1), got ${String(level)}`);
  const rng = new Sfc32(seed);
  const n = units.length;
  const pools = strataPools(n, options.strata);
  if (n < 2) return null;
  const values: number[] = [];
  let undefinedResamples = 0;
  for (let b = 0; b < resamples; b++) {
    const sample = new Array<T>(n);
    for (let i = 0; i < n; i++) {
      const pool = pools[i]!;
      sample[i] = units[pool[rng.nextInt(pool.length)]!]!;
    }
    const v = statistic(sample);
    if (v === null) {
      undefinedResamples++;
      continue;
    }
    if (!Number.isFinite(v)) throw new RangeError(`bootstrapCI: the statistic returned ${v}; undefined must be null`);
    values.push(v);
  }
  if (2 * values.length < resamples) return null;
  const sorted = Float64Array.from(values).sort();
  const alpha = 1 - level;
  return {
    low: quantileSorted(sorted, alpha / 2),
    high: quantileSorted(sorted, 1 - alpha / 2),
    level,
    resamples,
    undefinedResamples,
  };
}

/** For each position, the indices of the units it may be drawn from. */
function strataPools(n: number, strata: readonly (string | number)[] | undefined): (readonly number[])[] {
  if (strata === undefined) {
    const all = Array.from({ length: n }, (_, i) => i);
    return new Array<readonly number[]>(n).fill(all);
  }
  if (strata.length !== n) throw new RangeError(`bootstrapCI: ${strata.length} strata labels for ${n} units`);
  const byLabel = new Map<string | number, number[]>();
  strata.forEach((label, i) => {
    const pool = byLabel.get(label);
    if (pool) pool.push(i);
    else byLabel.set(label, [i]);
  });
  return strata.map((label) => byLabel.get(label)!);
}
