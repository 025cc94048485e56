import { bootstrapMeanCI, type BootstrapInterval } from './bootstrap.js';
import { Sfc32 } from '../seeded-random.js';

/**
 * A uniformly random derangement of 0..n−1 from `Sfc32(seed)`: perm[i] ≠ i for every i when n ≥ 2. For the null
 * baseline, feature i's report data is scored with the description chosen for feature perm[i].
 *
 * Method: Fisher–Yates shuffles (for i = n−1 down to 1, swap i with nextInt(i + 1)) drawn until one has no fixed
 * point; every derangement is equally likely and about e ≈ 2.72 shuffles are needed on average. n = 0 gives [] and
 * n = 1 gives [0], the only permutation (no derangement exists: a baseline needs at least 2 features).
 */
export function derangement(n: number, seed: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`derangement: n must be an integer >= 0, got ${String(n)}`);
  const rng = new Sfc32(seed);
  if (n < 2) return n === 0 ? [] : [0];
  const perm = new Array<number>(n);
  for (;;) {
    for (let i = 0; i < n; i++) perm[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = rng.nextInt(i + 1);
      const t = perm[i]!;
      perm[i] = perm[j]!;
      perm[j] = t;
    }
    if (perm.every((v, i) => v !== i)) return perm;
  }
}

export interface ScoreSummary {
  /** Number of values given (features). */
  readonly count: number;
  /** Number of non-null values. */
  readonly defined: number;
  /** Arithmetic mean of the non-null values; null when there are none. */
  readonly mean: number | null;
  /**
   * Percentile bootstrap interval of the mean, resampling the DEFINED values (features) with replacement; the
   * number of nulls is reported by count − defined and not resampled. Null when fewer than 2 values are defined.
   */
  readonly ci: BootstrapInterval | null;
}

function mean(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** Mean of per-feature scores (e.g. the null baseline's, or the chosen descriptions') with a bootstrap interval. */
export function summarizeScores(
  values: readonly (number | null)[],
  options: { readonly resamples: number; readonly seed: number; readonly level?: number },
): ScoreSummary {
  const defined: number[] = [];
  values.forEach((v, i) => {
    if (v === null) return;
    if (!Number.isFinite(v)) throw new RangeError(`summarizeScores: value ${i} is ${v}; undefined must be null`);
    defined.push(v);
  });
  return {
    count: values.length,
    defined: defined.length,
    mean: defined.length === 0 ? null : mean(defined),
    ci: bootstrapMeanCI(defined, options), // bootstrapCI(defined, mean, options), the resamples not built
  };
}
