/**
 * Stage 1's corpus: the deterministic stream of token windows fed to the subject — windows cut from web text and
 * chat, splits by document id, exact sampling ratios across sources, global ids that shard and resume exactly,
 * and batches for `SubjectModel.forward`.
 */
export {
  CorpusStream,
  parseShard,
  type CorpusOptions,
  type CorpusSourceSpec,
  type ShardSpec,
  type CorpusSequence,
  type CorpusBatch,
  type CorpusCounts,
  type CorpusSourceCounts,
  type CorpusEnd,
} from './corpus-stream.js';
export { DocumentWindower, type WindowingOptions, type DocumentCut, type FilledWindow } from './windows.js';
export { RatioScheduler } from './ratio-scheduler.js';
export {
  SPLIT_NAMES,
  splitAssignment,
  splitFraction,
  documentSplit,
  type SplitName,
  type SplitShares,
  type SplitAssignment,
} from './splits.js';
