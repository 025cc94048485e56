import type { Sign } from '@expgen/contract';

/** The tail quantiles the reference keeps (mirrored: 1 - q for the positive sign in its own terms). */
export const TAIL_FRACTIONS: readonly number[] = [1e-4, 1e-5, 1e-6, 1e-7, 1e-8];

/**
 * The reference's tail-quantile estimate from a feature's kept extremes sorted most extreme first
 * (`ActivationDistribution.sortedExtremes`), for a fraction q (1e-4 ... 1e-8) of the N
 * tokens seen, or null when the kept extremes do not reach rank r = q x N (or nothing was seen).
 *
 * It treats the kept per-sequence extremes as the most extreme token values (a sequence rarely holds two of the
 * top tokens) and interpolates linearly in rank, exactly as the reference's `approximate_quantile` does with the
 * empirical CDF P(X <= v):
 *   positive: the value that a fraction q of tokens exceed, at fractional position r in the maxima sorted
 *             descending (position 0 = the largest, which no token exceeds); defined for 0 <= r <= n - 1;
 *   negative: the value at or below which a fraction q of tokens lie, at fractional position r - 1 in the minima
 *             sorted ascending (the smallest has 1/N at or below it); defined for 1 <= r <= n.
 * n is the number kept (M once the stream is long). The reference computes the same through 1 - q and
 * cumulative probabilities; the results differ only by float rounding.
 */
export function quantileOfSorted(sorted: Float32Array, tokens: number, q: number, sign: Sign): number | null {
  const n = sorted.length;
  if (n === 0 || tokens === 0) return null;
  const rank = q * tokens;
  const position = sign === 'positive' ? rank : rank - 1;
  if (position < 0 || position > n - 1) return null;
  const below = Math.floor(position);
  if (below >= n - 1) return sorted[n - 1]!;
  return sorted[below]! + (position - below) * (sorted[below + 1]! - sorted[below]!);
}
