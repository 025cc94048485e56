import type { Provenance } from './provenance.js';

export interface ScoreRequest {
  /** Per sequence, the simulator's per-token predictions. */
  readonly predicted: readonly Float32Array[];
  /** Per sequence, the true (signed) activations, same lengths. */
  readonly actual: readonly Float32Array[];
}

export interface ScoreResult {
  /** The headline score; null when undefined (e.g. a constant vector), never 0 or NaN in its place. */
  readonly value: number | null;
  /** Further statistics by name (null when undefined). */
  readonly stats: Readonly<Record<string, number | null>>;
  readonly scoredBy: Provenance;
}

/**
 * The pooled second moments of predicted (x) against true (y) activations over every token of a set of sequences:
 * what a correlation, a covariance or a linear fit is a function of. sxx = Σ(x − x̄)², syy = Σ(y − ȳ)²,
 * sxy = Σ(x − x̄)(y − ȳ).
 */
export interface TokenMoments {
  readonly tokens: number;
  readonly meanPredicted: number;
  readonly meanActual: number;
  readonly sxx: number;
  readonly syy: number;
  readonly sxy: number;
  /** Every pooled prediction is exactly the same value (also when there are no tokens). */
  readonly constantPredicted: boolean;
  /** Every pooled true activation is exactly the same value (also when there are no tokens). */
  readonly constantActual: boolean;
}

/** Compares simulated with true activations. */
export interface Scorer {
  readonly provenance: Provenance;
  score(request: ScoreRequest): ScoreResult;
  /**
   * Optional, for scorers whose headline value depends on the tokens only through their pooled moments (Pearson's
   * r, R², a covariance): the value for a set with these moments, equal to `score(request).value` for any request
   * whose tokens have them (up to rounding). With it the engine keeps per-sequence sums and evaluates bootstrap
   * resamples and selection rounds by adding them, instead of calling `score` on copies of every resampled set.
   * It must not keep the object it is given: the engine reuses it from one resample to the next.
   */
  valueFromMoments?(moments: TokenMoments): number | null;
  dispose?(): Promise<void> | void;
}
