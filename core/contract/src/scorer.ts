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

/** Compares simulated with true activations. */
export interface Scorer {
  readonly provenance: Provenance;
  score(request: ScoreRequest): ScoreResult;
  dispose?(): Promise<void> | void;
}
