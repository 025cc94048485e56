import type { TokenMoments } from '@expgen/contract';
import { medianInPlace } from './select.js';
import { momentsOf, sequenceMoments } from './sequence-moments.js';
import type { ScoreSet } from './types.js';

/**
 * Statistics of predicted (x) against true (y) activations over the POOLED tokens of a set of sequences: every
 * counted token of every sequence is one observation, sequences are simply concatenated (so a long sequence weighs
 * more than a short one, as in the reference). All arithmetic is in float64.
 *
 * Undefined is null, never 0 or NaN: fewer than 2 pooled tokens, or either side constant (all pooled values
 * exactly equal), makes every statistic here null. Inputs must be finite; a NaN or infinity anywhere is a
 * RangeError (it means padding or a broken simulator, not an undefined statistic), as is a sequence whose
 * `predicted` and `actual` lengths differ.
 */

/** Neumaier's compensated sum. */
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

/**
 * Centered second moments of the pooled tokens (the contract's `TokenMoments`). sxx = Σ(x − x̄)², syy = Σ(y − ȳ)²,
 * sxy = Σ(x − x̄)(y − ȳ); `constantPredicted` / `constantActual` say every pooled value is exactly the same (also
 * when there are no tokens).
 */
export type PooledMoments = TokenMoments;

/**
 * Two passes: compensated sums for the means, then the corrected two-pass algorithm (Chan, Golub & LeVeque 1983):
 * sxx = Σd² − (Σd)²/n with d = x − x̄, which removes the rounding error left in x̄. Constancy is decided exactly
 * (every value equal to the first), not by comparing a rounded variance with 0. Computed as the sum of the
 * per-sequence moments (`sequenceMoments`), so a resample's moments and the whole set's come from one algorithm.
 */
export function pooledMoments(set: ScoreSet): PooledMoments {
  return momentsOf(sequenceMoments(set));
}

/** Whether the moments support correlation and calibration (see the module note). */
function defined(m: PooledMoments): boolean {
  return m.tokens >= 2 && !m.constantPredicted && !m.constantActual && m.sxx > 0 && m.syy > 0;
}

/**
 * Pearson's r of pooled moments: sxy / √(sxx · syy), clamped to [−1, 1]; null when undefined (module note). The
 * correlation scorer's `valueFromMoments`.
 */
export function pearsonFromMoments(m: PooledMoments): number | null {
  if (!defined(m)) return null;
  const r = m.sxy / (Math.sqrt(m.sxx) * Math.sqrt(m.syy));
  if (!Number.isFinite(r)) return null;
  return Math.max(-1, Math.min(1, r));
}

/**
 * Pearson's r over the pooled tokens: r = sxy / √(sxx · syy), clamped to [−1, 1]. Null when undefined (module note).
 * This is the reference score: positive when the predictions rise with the true activations.
 */
export function pooledPearson(set: ScoreSet): number | null {
  return pearsonFromMoments(pooledMoments(set));
}

/** Pearson's r of two flat vectors of equal length (one sequence). */
export function pearson(predicted: ArrayLike<number>, actual: ArrayLike<number>): number | null {
  return pooledPearson([{ predicted, actual }]);
}

/** An ordinary least-squares fit of actual on predicted; see `linearCalibration`. */
export interface LinearCalibration {
  readonly slope: number;
  readonly intercept: number;
  readonly rSquared: number;
}

function calibrationOf(m: PooledMoments): LinearCalibration | null {
  const r = pearsonFromMoments(m);
  if (r === null) return null;
  const slope = m.sxy / m.sxx;
  const intercept = m.meanActual - slope * m.meanPredicted;
  if (!Number.isFinite(slope) || !Number.isFinite(intercept)) return null;
  return { slope, intercept, rSquared: r * r };
}

/**
 * The linear calibration of the predictions: the ordinary least-squares fit of actual on predicted,
 * actual ≈ slope · predicted + intercept, with slope = sxy / sxx and intercept = ȳ − slope · x̄.
 * rSquared = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² of that fit, which for simple regression with an intercept equals r²
 * (computed as r², so it is exactly the square of `pooledPearson`). A calibration is an affine map, so it leaves
 * |r| unchanged: the reference's "score after calibration" is |r|, and r² is the share of the variance of the true
 * activations the calibrated predictions explain. Null when undefined (module note).
 */
export function linearCalibration(set: ScoreSet): LinearCalibration | null {
  return calibrationOf(pooledMoments(set));
}

/** The median of a non-empty list of finite values (the mean of the two middle values for an even count). */
export function median(values: ArrayLike<number>): number {
  if (values.length === 0) throw new RangeError('median of no values');
  return medianInPlace(Float64Array.from(values));
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
  // A selection in linear time, not a sort: only the middle order statistics are needed.
  const med = medianInPlace(ys);
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

/**
 * Absolute deviation explained, the L1 counterpart of R²:
 *
 *     ADE = 1 − Σ_t |y_t − ŷ_t| / Σ_t |y_t − median(y)|,   ŷ_t = slope · x_t + intercept  (the linear calibration)
 *
 * summed over the pooled tokens. The baseline is the best constant predictor in L1 (the median; any value between
 * the two middle ones gives the same sum, so an even count is not ambiguous). 1 is perfect, 0 is no better than the
 * median; it can be negative, since the calibration minimizes squared, not absolute, error. Relation to OpenAI's
 * "automated interpretability" score 1 − mean|y − ŷ| / mean|y| (baseline: predicting 0): the two agree whenever
 * median(y) = 0, which is the usual case for true activations (most tokens do not fire); ours is also invariant to
 * shifting y. Null when undefined (module note); Σ|y − median| = 0 only when y is constant.
 */
export function absoluteDeviationExplained(set: ScoreSet): number | null {
  const m = pooledMoments(set);
  return absoluteDeviationExplainedOf(set, m, calibrationOf(m));
}

/** Every pooled statistic of a set at once (one pass for the moments, one for the deviations). */
export interface PooledStatistics {
  /** Number of pooled tokens. */
  readonly tokens: number;
  readonly pearson: number | null;
  readonly rSquared: number | null;
  readonly slope: number | null;
  readonly intercept: number | null;
  readonly absoluteDeviationExplained: number | null;
}

/**
 * Every pooled statistic of a set; `moments` are its pooled moments when the caller has them already (they must be
 * this set's), so they are not computed twice.
 */
export function pooledStatistics(set: ScoreSet, moments?: PooledMoments): PooledStatistics {
  const m = moments ?? pooledMoments(set);
  const calibration = calibrationOf(m);
  return {
    tokens: m.tokens,
    pearson: pearsonFromMoments(m),
    rSquared: calibration?.rSquared ?? null,
    slope: calibration?.slope ?? null,
    intercept: calibration?.intercept ?? null,
    absoluteDeviationExplained: absoluteDeviationExplainedOf(set, m, calibration),
  };
}
