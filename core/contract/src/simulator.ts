import type { Provenance } from './provenance.js';

export interface SimulateRequest {
  /** Descriptions to simulate; one forward pass may serve them all. */
  readonly descriptions: readonly string[];
  /** The subject's token ids of each sequence. */
  readonly sequences: readonly (readonly number[])[];
}

export interface SimulateResult {
  /** predictions[d][s][t]: predicted activation of token t of sequence s under description d, on a 0..10 scale. */
  readonly predictions: readonly (readonly Float32Array[])[];
  /** How the prediction was made (e.g. `expected-bin`, `prompt-logprobs`), recorded on every score. */
  readonly mode: string;
  readonly simulatedBy: Provenance;
}

/** Predicts per-token activations from a description alone. */
export interface Simulator {
  readonly provenance: Provenance;
  simulate(request: SimulateRequest): Promise<SimulateResult>;
  dispose?(): Promise<void> | void;
}
