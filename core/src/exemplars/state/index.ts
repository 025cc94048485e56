/**
 * Stage 1's host-side state: per-feature top-k / bottom-k exemplars, random sequences, and the distribution of
 * per-sequence extremes behind the tail quantiles, plus the store of the sequences they refer to. Pure, exact,
 * mergeable across shards, and serializable for checkpoints.
 */
export { TopKExemplars, type TopKExemplarsOptions, type GatedBatch, type ExemplarThresholds, type Exemplar, type TopKOfferSummary } from './top-k-exemplars.js';
export { RandomSequences, selectionHash, type RandomSequencesOptions, type RandomSequence } from './random-sequences.js';
export { ActivationDistribution, TAIL_FRACTIONS, type ActivationDistributionOptions, type ExtremesBatch, type HistogramBins } from './activation-distribution.js';
export { SequenceStore, type SequenceReferences, type SequenceContent, type SequenceRecord, type SequenceStoreOptions } from './sequence-store.js';
export { concatChunks } from './state-codec.js';
