import type { TokenMoments } from '@expgen/contract';
import { Sfc32 } from '../seeded-random.js';
import { quantileInPlace } from './select.js';
import { MOMENT_FIELDS, constancyOf, momentsFromSums, type SequenceMoments } from './sequence-moments.js';

const pair = new Float64Array(4);

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
  const level = checkOptions(options);
  const rng = new Sfc32(seed);
  const n = units.length;
  const pools = strataPools(n, options.strata);
  if (n < 2) return null;
  const values = new Float64Array(resamples);
  let defined = 0;
  const sample = new Array<T>(n);
  for (let b = 0; b < resamples; b++) {
    for (let i = 0; i < n; i++) {
      const pool = pools[i]!;
      sample[i] = units[pool[rng.nextInt(pool.length)]!]!;
    }
    const v = statistic(sample);
    if (v === null) continue;
    if (!Number.isFinite(v)) throw new RangeError(`bootstrapCI: the statistic returned ${v}; undefined must be null`);
    values[defined++] = v;
  }
  return percentileInterval(values.subarray(0, defined), resamples, level);
}

/**
 * `bootstrapCI(values, mean, options)` without strata, without building the resamples: each resample's values are
 * summed as they are drawn, in the same order from the same generator, so the interval is the same to the bit. A
 * run's summary takes the mean of hundreds of thousands of feature scores: a thousand resamples of that size.
 */
export function bootstrapMeanCI(
  values: readonly number[],
  options: Omit<BootstrapOptions, 'strata'>,
): BootstrapInterval | null {
  const { resamples, seed } = options;
  const level = checkOptions(options);
  const rng = new Sfc32(seed);
  const n = values.length;
  if (n < 2) return null;
  const means = new Float64Array(resamples);
  // `nextInt(n)` inlined: the same rejection limit, and the remainder by a division, which is exact below 2^32.
  const limit = 2 ** 32 - (2 ** 32 % n);
  for (let b = 0; b < resamples; b++) {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      let u = rng.nextUint32();
      while (u >= limit) u = rng.nextUint32();
      sum += values[u - Math.floor(u / n) * n]!;
    }
    const v = sum / n;
    if (!Number.isFinite(v)) throw new RangeError(`bootstrapCI: the statistic returned ${v}; undefined must be null`);
    means[b] = v;
  }
  return percentileInterval(means, resamples, level);
}

function checkOptions(options: BootstrapOptions): number {
  const { resamples } = options;
  const level = options.level ?? 0.95;
  if (!Number.isInteger(resamples) || resamples < 1)
    throw new RangeError(`bootstrapCI: resamples must be an integer >= 1, got ${String(resamples)}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`bootstrapCI: level must be in (0, 1), got ${String(level)}`);
  return level;
}

/**
 * The interval of `defined` resampled values (reordered in place) out of `resamples` drawn: null when fewer than
 * half are defined, else the type-7 quantiles (1 − level)/2 and (1 + level)/2, found by selection, not by sorting.
 */
export function percentileInterval(defined: Float64Array, resamples: number, level: number): BootstrapInterval | null {
  if (2 * defined.length < resamples) return null;
  const alpha = 1 - level;
  return {
    low: quantileInPlace(defined, alpha / 2),
    high: quantileInPlace(defined, 1 - alpha / 2),
    level,
    resamples,
    undefinedResamples: resamples - defined.length,
  };
}

/**
 * The resamples `bootstrapCI` would draw over the sequences of `moments`, as summed sequence moments: resample b's
 * MOMENT_FIELDS sums start at b · MOMENT_FIELDS. The draw is the same (`Sfc32(seed)`, resample by resample,
 * position by position, one `nextInt` per position, within strata), so an interval from these sums equals
 * `bootstrapCI(set, statistic)` for a statistic of the pooled moments, up to rounding. Null when the set has fewer
 * than 2 sequences (no interval). This is the heavy half of a moment bootstrap; a worker thread can run it.
 */
export function resampleMoments(
  moments: SequenceMoments,
  options: BootstrapOptions,
  into?: Float64Array,
): Float64Array | null {
  checkOptions(options);
  const n = moments.sequences;
  const pools = strataPools(n, options.strata);
  if (n < 2) return null;
  // `into`, when it has the right size, is reused: stage 3 recycles these buffers between its threads.
  const sums =
    into && into.length === options.resamples * MOMENT_FIELDS
      ? into
      : new Float64Array(options.resamples * MOMENT_FIELDS);
  const v = moments.values;
  const draws = drawsOf(n, pools, options);
  // The hot loop of stage 3's host work: the drawn sequences' moments added in place, in the order drawn.
  for (let b = 0; b < options.resamples; b++) {
    const at = b * n;
    let tokens = 0;
    let dx = 0;
    let dy = 0;
    let dxx = 0;
    let dyy = 0;
    let dxy = 0;
    let variesX = 0;
    let variesY = 0;
    for (let i = 0; i < n; i++) {
      const o = draws[at + i]! * MOMENT_FIELDS;
      tokens += v[o]!;
      dx += v[o + 1]!;
      dy += v[o + 2]!;
      dxx += v[o + 3]!;
      dyy += v[o + 4]!;
      dxy += v[o + 5]!;
      variesX += v[o + 6]!;
      variesY += v[o + 7]!;
    }
    const out = b * MOMENT_FIELDS;
    sums[out] = tokens;
    sums[out + 1] = dx;
    sums[out + 2] = dy;
    sums[out + 3] = dxx;
    sums[out + 4] = dyy;
    sums[out + 5] = dxy;
    // Constancy needs a second look only when no drawn sequence varies on that side (rare for real data).
    if (variesX === 0) constancyOf(v, draws.subarray(at, at + n), n, 0, pair, 0);
    else pair[0] = 0;
    if (variesY === 0) constancyOf(v, draws.subarray(at, at + n), n, 1, pair, 2);
    else pair[2] = 0;
    sums[out + 6] = pair[0]!;
    sums[out + 7] = pair[2]!;
    sums[out + 8] = pair[0] ? pair[1]! : Number.NaN;
    sums[out + 9] = pair[2] ? pair[3]! : Number.NaN;
  }
  return sums;
}

/**
 * Draws of `resampleMoments` by shape. The draws depend only on the seed, the number of resamples and the strata,
 * never on the data, and stage 3 resamples every feature-sign's test set with the same seed and strata: drawn
 * once per shape, they are reused (half of the work was drawing). A few shapes are kept, of bounded size.
 */
const drawsByShape = new Map<string, Int32Array>();
const DRAW_SHAPES_KEPT = 16;
const DRAWS_KEPT_MAX = 1 << 20;

/** The unit drawn at each position of each resample: resample b's n draws start at b · n. */
function drawsOf(n: number, pools: readonly (readonly number[])[], options: BootstrapOptions): Int32Array {
  const key = `${options.resamples} ${options.seed} ${pools.map((pool) => pool.join(',')).join(';')}`;
  const kept = drawsByShape.get(key);
  if (kept) return kept;
  const draws = new Int32Array(options.resamples * n);
  const rng = new Sfc32(options.seed);
  // `nextInt` unrolled: the same rejection rule, so the same draws.
  const limits = pools.map((pool) => 2 ** 32 - (2 ** 32 % pool.length));
  for (let b = 0; b < options.resamples; b++) {
    for (let i = 0; i < n; i++) {
      const pool = pools[i]!;
      const limit = limits[i]!;
      let u = rng.nextUint32();
      while (u >= limit) u = rng.nextUint32();
      draws[b * n + i] = pool[remainder(u, pool.length)]!;
    }
  }
  if (draws.length <= DRAWS_KEPT_MAX) {
    if (drawsByShape.size >= DRAW_SHAPES_KEPT) drawsByShape.clear();
    drawsByShape.set(key, draws);
  }
  return draws;
}

/**
 * u mod bound for a uint32 u, in int32 arithmetic when it can be (bound below 2^15): a uint32 above 2^31 is a
 * double to V8, and a double remainder costs several times an integer one in the bootstrap's inner loop.
 */
export function remainder(u: number, bound: number): number {
  if (bound >= 32768) return u % bound;
  return (((u >>> 16) % bound) * 65536 + (u & 0xffff)) % bound;
}

/**
 * The resampled values of the last `intervalFromResampledMoments`, reused by the next: stage 3 evaluates an interval
 * per feature-sign, and a fresh buffer each time (kilobytes outside the heap) kept the allocator and collector busy.
 */
let spareValues: Float64Array | null = null;

/**
 * The light half: the interval of `value` over resampled moment sums (`resampleMoments`), with the same rules as
 * `bootstrapCI` (undefined resamples dropped and counted; null when fewer than half are defined).
 */
export function intervalFromResampledMoments(
  sums: Float64Array,
  center: { readonly centerPredicted: number; readonly centerActual: number },
  value: (moments: TokenMoments) => number | null,
  options: Pick<BootstrapOptions, 'level'> = {},
): BootstrapInterval | null {
  const level = options.level ?? 0.95;
  const resamples = sums.length / MOMENT_FIELDS;
  // The spare buffer, taken while in use (a statistic that bootstraps in turn gets its own).
  const values = spareValues && spareValues.length >= resamples ? spareValues : new Float64Array(resamples);
  spareValues = null;
  let defined = 0;
  const moments = momentsFromSums(sums, 0, center.centerPredicted, center.centerActual); // reused for each resample
  for (let b = 0; b < resamples; b++) {
    const v = value(momentsFromSums(sums, b * MOMENT_FIELDS, center.centerPredicted, center.centerActual, moments));
    if (v === null) continue;
    if (!Number.isFinite(v)) throw new RangeError(`bootstrapCI: the statistic returned ${v}; undefined must be null`);
    values[defined++] = v;
  }
  const interval = percentileInterval(values.subarray(0, defined), resamples, level);
  spareValues = values;
  return interval;
}

/**
 * `bootstrapCI` for a statistic of the pooled moments, without building any resampled set: per-sequence moments
 * are summed per resample (`resampleMoments`) and the statistic evaluated on the sums.
 */
export function bootstrapMomentsCI(
  moments: SequenceMoments,
  value: (moments: TokenMoments) => number | null,
  options: BootstrapOptions,
): BootstrapInterval | null {
  const sums = resampleMoments(moments, options);
  return sums === null
    ? null
    : intervalFromResampledMoments(sums, moments, value, options.level === undefined ? {} : { level: options.level });
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
