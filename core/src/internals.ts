/**
 * Engine internals the repository's benchmarks (`bench/`) drive directly: stage 1's host side, its checkpoint and
 * file writers. Not part of expgen's API: these change without notice; plugins never need them.
 */
export { CHECKPOINT_FORMAT, readCheckpoint, writeCheckpoint } from './exemplars/checkpoint-files.js';
export { ExemplarCollector, type CollectedRow } from './exemplars/host/exemplar-collector.js';
export type { StateSettings } from './exemplars/host/layer-states.js';
export { writeArrowFile } from './exemplars/storage/arrow-io.js';
export { exemplarRecordBatches } from './exemplars/storage/exemplar-columns.js';
export { exemplarSchema, writeExemplarFile } from './exemplars/storage/exemplar-file.js';
export { distributionRowsOf, exemplarRowsOf, type ExemplarOutputInfo } from './exemplars/storage/state-files.js';
export { writeDistributionFile } from './exemplars/storage/distribution-file.js';
export { ActivationDistribution } from './exemplars/state/activation-distribution.js';
export { RandomSequences, selectionHash } from './exemplars/state/random-sequences.js';
export { SequenceStore } from './exemplars/state/sequence-store.js';
export { TopKExemplars } from './exemplars/state/top-k-exemplars.js';
export { ExtremeBuffers } from './exemplars/state/kept-extremes.js';
export { judgeRequestOf, type ScoreEntry } from './score/reported-scores.js';
