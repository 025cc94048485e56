/**
 * The scoring statistics as they were before the per-sequence moments (a verbatim copy, comments trimmed): pooled
 * moments in one sweep, a sort for the median of the absolute deviation, a bootstrap that hands the statistic a
 * new array per resample. Kept as the baseline of `score-throughput` and nothing else.
 */
import { Sfc32, type ScoreSet } from '@expgen/core';

class Sum {
  private s = 0;
  private c = 0;
  add(v: number): void {
    const t = this.s + v;
    this.c += Math.abs(this.s) >= Math.abs(v) ? this.s - t + v : v - t + this.s;
    this.s = t;
  }
  get value(): number {
    return this.s + this.c;
  }
}

export interface PooledMoments {
  readonly tokens: number;
  readonly meanPredicted: number;
  readonly meanActual: number;
  readonly sxx: number;
  readonly syy: number;
  readonly sxy: number;
  /** True when every pooled prediction is exactly the same value (also when there are no tokens). */
  readonly constantPredicted: boolean;
  /** True when every pooled true activation is exactly the same value (also when there are no tokens). */
  readonly constantActual: boolean;
}

export function pooledMoments(set: ScoreSet): PooledMoments {
  let n = 0;
  const sumX = new Sum();
  const sumY = new Sum();
  let firstX = 0;
  let firstY = 0;
  let constantX = true;
  let constantY = true;
  for (let s = 0; s < set.length; s++) {
    const { predicted: p, actual: a } = set[s]!;
    if (p.length !== a.length)
      throw new RangeError(
        `pooled statistics: sequence ${s} has ${p.length} predictions for ${a.length} true activations`,
      );
    for (let t = 0; t < a.length; t++) {
      const x = p[t]!;
      const y = a[t]!;
      if (!Number.isFinite(x)) throw new RangeError(`pooled statistics: prediction ${t} of sequence ${s} is ${x}`);
      if (!Number.isFinite(y)) throw new RangeError(`pooled statistics: true activation ${t} of sequence ${s} is ${y}`);
      if (n === 0) {
        firstX = x;
        firstY = y;
      } else {
        if (x !== firstX) constantX = false;
        if (y !== firstY) constantY = false;
      }
      sumX.add(x);
      sumY.add(y);
      n++;
    }
  }
  if (n === 0)
    return {
      tokens: 0,
      meanPredicted: 0,
      meanActual: 0,
      sxx: 0,
      syy: 0,
      sxy: 0,
      constantPredicted: true,
      constantActual: true,
    };
  let mx = sumX.value / n;
  let my = sumY.value / n;
  if (constantX) mx = firstX;
  if (constantY) my = firstY;
  let dxSum = 0;
  let dySum = 0;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (const { predicted: p, actual: a } of set) {
    for (let t = 0; t < a.length; t++) {
      const dx = p[t]! - mx;
      const dy = a[t]! - my;
      dxSum += dx;
      dySum += dy;
      sxx += dx * dx;
      syy += dy * dy;
      sxy += dx * dy;
    }
  }
  sxx = constantX ? 0 : Math.max(0, sxx - (dxSum * dxSum) / n);
  syy = constantY ? 0 : Math.max(0, syy - (dySum * dySum) / n);
  sxy = constantX || constantY ? 0 : sxy - (dxSum * dySum) / n;
  return {
    tokens: n,
    meanPredicted: mx + dxSum / n,
    meanActual: my + dySum / n,
    sxx,
    syy,
    sxy,
    constantPredicted: constantX,
    constantActual: constantY,
  };
}

function defined(m: PooledMoments): boolean {
  return m.tokens >= 2 && !m.constantPredicted && !m.constantActual && m.sxx > 0 && m.syy > 0;
}

function pearsonOf(m: PooledMoments): number | null {
  if (!defined(m)) return null;
  const r = m.sxy / (Math.sqrt(m.sxx) * Math.sqrt(m.syy));
  if (!Number.isFinite(r)) return null;
  return Math.max(-1, Math.min(1, r));
}

export function pooledPearson(set: ScoreSet): number | null {
  return pearsonOf(pooledMoments(set));
}

export function pearson(predicted: ArrayLike<number>, actual: ArrayLike<number>): number | null {
  return pooledPearson([{ predicted, actual }]);
}

export interface LinearCalibration {
  readonly slope: number;
  readonly intercept: number;
  readonly rSquared: number;
}

function calibrationOf(m: PooledMoments): LinearCalibration | null {
  const r = pearsonOf(m);
  if (r === null) return null;
  const slope = m.sxy / m.sxx;
  const intercept = m.meanActual - slope * m.meanPredicted;
  if (!Number.isFinite(slope) || !Number.isFinite(intercept)) return null;
  return { slope, intercept, rSquared: r * r };
}

export function linearCalibration(set: ScoreSet): LinearCalibration | null {
  return calibrationOf(pooledMoments(set));
}

export function median(values: ArrayLike<number>): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function absoluteDeviationExplainedOf(
  set: ScoreSet,
  m: PooledMoments,
  calibration: LinearCalibration | null,
): number | null {
  if (calibration === null) return null;
  const ys = new Float64Array(m.tokens);
  let i = 0;
  for (const { actual } of set) for (let t = 0; t < actual.length; t++) ys[i++] = actual[t]!;
  const med = median(ys);
  const residual = new Sum();
  const baseline = new Sum();
  for (const { predicted, actual } of set) {
    for (let t = 0; t < actual.length; t++) {
      const y = actual[t]!;
      residual.add(Math.abs(y - (calibration.slope * predicted[t]! + calibration.intercept)));
      baseline.add(Math.abs(y - med));
    }
  }
  const denominator = baseline.value;
  if (!(denominator > 0)) return null;
  return 1 - residual.value / denominator;
}

export function absoluteDeviationExplained(set: ScoreSet): number | null {
  const m = pooledMoments(set);
  return absoluteDeviationExplainedOf(set, m, calibrationOf(m));
}

export interface PooledStatistics {
  /** Number of pooled tokens. */
  readonly tokens: number;
  readonly pearson: number | null;
  readonly rSquared: number | null;
  readonly slope: number | null;
  readonly intercept: number | null;
  readonly absoluteDeviationExplained: number | null;
}

export function pooledStatistics(set: ScoreSet): PooledStatistics {
  const m = pooledMoments(set);
  const calibration = calibrationOf(m);
  return {
    tokens: m.tokens,
    pearson: pearsonOf(m),
    rSquared: calibration?.rSquared ?? null,
    slope: calibration?.slope ?? null,
    intercept: calibration?.intercept ?? null,
    absoluteDeviationExplained: absoluteDeviationExplainedOf(set, m, calibration),
  };
}

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
