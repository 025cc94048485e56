/**
 * Stage 1's host-side state: per-feature top-k / bottom-k exemplars, random sequences, and the distribution of
 * per-sequence extremes behind the tail quantiles, plus the store of the sequences they refer to. Pure, exact,
 * mergeable across shards, and serializable for checkpoints; in shared memory, merge workers update disjoint
 * feature ranges of one state in parallel (`mergeRange`, `attach`).
 *
 * One batch of one split, for one hook (layer), goes like this on the host (exemplars/host/ does it for a group of
 * layers, on worker threads):
 *   1. `random.wouldAdmit(id)` for each row: the rows whose full per-token values the forward must return;
 *      `topK.thresholds()` and `distribution.thresholds()`: the gates of the forward (HookRequest.thresholds and
 *      extremeThresholds), and `distribution.inHistogramSample(id)`: its dense rows.
 *   2. forward with `reduce: 'gated'` (plus `full` for the admitted rows).
 *   3. `topK.offerSparse(...)` (or `checkBatch`, `mergeRange` per feature range, `commitBatch`),
 *      `distribution.offerSparse(...)` (or `mergeRange` and `count`), `random.admit(id)` and `copyColumns` for the
 *      admitted rows; the states tell a ReferenceTally (or the store) who entered and left.
 *   4. the tally applied to the store, then `store.put(id, { tokens, length, datasetIndex, documentId, split })`
 *      for every row it now refers to.
 * `offer` with dense extremes does the same for subjects that return them. Checkpoint every state and the store at
 * the same point; shards combine with `merge` and `SequenceStore.fillFrom`.
 */
export {
  TopKExemplars,
  type TopKExemplarsOptions,
  type TopKHandles,
  type SparseGatedBatch,
  type GatedBatch,
  type ExemplarThresholds,
  type Exemplar,
  type TopKOfferSummary,
} from './top-k-exemplars.js';
export {
  RandomSequences,
  copyColumns,
  selectionHash,
  type RandomSequencesOptions,
  type RandomSequence,
} from './random-sequences.js';
export {
  ActivationDistribution,
  TAIL_FRACTIONS,
  type ActivationDistributionOptions,
  type ExtremesBatch,
  type SparseExtremesBatch,
  type DistributionHandles,
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
export { ReferenceTally } from './reference-tally.js';
export type { StateMemory } from './state-memory.js';
export { concatChunks } from './state-codec.js';
