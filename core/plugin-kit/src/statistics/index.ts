/**
 * Pure statistics of stage 3 (scoring): true activations over counted positions, pooled correlation and
 * calibration, bootstrap intervals over sequences, best-of-k selection reported on held-out data, and the
 * shuffled-description null baseline. Seeded randomness is `Sfc32`. Resampling works on per-sequence sufficient
 * statistics (`sequenceMoments`) wherever the statistic is a function of the pooled moments.
 */
export { Sfc32 } from '../seeded-random.js';
export type { ScoredSequence, ScoreSet, SetStatistic } from './types.js';
export { countedRange, scoredSequence, trueActivations, type CountedActivations } from './true-activations.js';
export {
  absoluteDeviationExplained,
  linearCalibration,
  median,
  pearson,
  pearsonFromMoments,
  pooledMoments,
  pooledPearson,
  pooledStatistics,
  type LinearCalibration,
  type PooledMoments,
  type PooledStatistics,
} from './pooled.js';
export {
  bootstrapCI,
  bootstrapMeanCI,
  bootstrapMomentsCI,
  intervalFromResampledMoments,
  percentileInterval,
  quantileSorted,
  resampleMoments,
  type BootstrapInterval,
  type BootstrapOptions,
} from './bootstrap.js';
export {
  MOMENT_FIELDS,
  addSequenceMoments,
  momentsFromSums,
  momentsOf,
  scoredMoments,
  sequenceMoments,
  type PredictedSequence,
  type SequenceMoments,
} from './sequence-moments.js';
export { medianInPlace, quantileInPlace, selectInPlace } from './select.js';
export { selectBestOfK, type BestOfKOptions, type BestOfKResult, type Candidate } from './best-of-k.js';
export { derangement, summarizeScores, type ScoreSummary } from './null-baseline.js';
export {
  binaryCounts,
  binaryStatistics,
  type BinaryCounts,
  type BinaryStatistics,
} from './classification.js';
