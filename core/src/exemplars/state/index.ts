/**
 * Stage 1's host-side state: per-feature top-k / bottom-k exemplars, random sequences, and the distribution of
 * per-sequence extremes behind the tail quantiles, plus the store of the sequences they refer to. Pure, exact,
 * mergeable across shards, and serializable for checkpoints.
 *
 * One batch of one split, for one hook (layer), goes like this on the host:
 *   1. `random.wouldAdmit(id)` for each row: the rows whose full per-token values the forward must return;
 *      `topK.thresholds()`: the gating thresholds of the forward.
 *   2. forward with `reduce: 'gated'` (plus `full` for the admitted rows).
 *   3. `topK.offer({ sequenceIds, max, min, gated, seqLen })`, `distribution.offer({ max, min, tokens })`,
 *      `random.offer(id, rowValues)` for the admitted rows; the states retain/release sequences in the store.
 *   4. `store.put(id, { tokens, length, datasetIndex, documentId, split })` for every row: kept only if referenced.
 * Checkpoint every state and the store at the same point; shards combine with `merge` and `SequenceStore.fillFrom`.
 */
export {
  TopKExemplars,
  type TopKExemplarsOptions,
  type GatedBatch,
  type ExemplarThresholds,
  type Exemplar,
  type TopKOfferSummary,
} from './top-k-exemplars.js';
export {
  RandomSequences,
  selectionHash,
  type RandomSequencesOptions,
  type RandomSequence,
} from './random-sequences.js';
export {
  ActivationDistribution,
  TAIL_FRACTIONS,
  type ActivationDistributionOptions,
  type ExtremesBatch,
  type HistogramBins,
} from './activation-distribution.js';
export {
  SequenceStore,
  type SequenceReferences,
  type SequenceContent,
  type SequenceRecord,
  type SequencePlacement,
  type SequenceStoreOptions,
} from './sequence-store.js';
export { concatChunks } from './state-codec.js';
