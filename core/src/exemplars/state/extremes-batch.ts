import type { HistogramBins } from './histogram-bins.js';
import type { ExtremeBufferArrays } from './kept-extremes.js';
import type { SparseExtremes } from './sparse-pairs.js';

/** The batches of per-sequence extremes an ActivationDistribution takes, and what merge workers attach with. */

/** Per-sequence extremes of one batch. */
export interface ExtremesBatch {
  /** [rows, features] per-sequence maximum. */
  readonly max: Float32Array;
  /** [rows, features] per-sequence minimum. */
  readonly min: Float32Array;
  /** Tokens the extremes were taken over in this batch (counted positions of all rows): the quantiles' N. */
  readonly tokens: number;
}

/**
 * One batch as a gated forward with gated extremes returns it, feature indices being the state's: the per-sequence
 * maxima and minima that can enter the kept extremes (feature-major), and the dense extremes of the batch's rows
 * in the histogram sample.
 */
export interface SparseExtremesBatch {
  /** Rows of the batch: `maxima` / `minima` index feature * rows + row. */
  readonly rows: number;
  readonly maxima: SparseExtremes;
  readonly minima: SparseExtremes;
  /** [rows, features] dense extremes of the sampled rows, for the histogram. */
  readonly sample: { readonly rows: number; readonly max: Float32Array; readonly min: Float32Array };
}

/** What a merge worker needs to attach to a distribution in shared memory. */
export interface DistributionHandles {
  readonly features: number;
  readonly keep: number;
  readonly histogram: HistogramBins;
  readonly maxima: ExtremeBufferArrays;
  readonly negatedMinima: ExtremeBufferArrays;
  readonly maxHistogram: Float64Array;
  readonly minHistogram: Float64Array;
}
