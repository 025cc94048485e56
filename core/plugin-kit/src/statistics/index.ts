/**
 * Pure statistics of stage 3 (scoring): true activations over counted positions, pooled correlation and
 * calibration, bootstrap intervals over sequences, best-of-k selection reported on held-out data, and the
 * shuffled-description null baseline. Seeded randomness is `Sfc32`.
 */
export { Sfc32 } from '../seeded-random.js';
export type { ScoredSequence, ScoreSet, SetStatistic } from './types.js';
export { countedRange, scoredSequence, trueActivations, type CountedActivations } from './true-activations.js';
export {
  absoluteDeviationExplained,
  linearCalibration,
  median,
  pearson,
  pooledMoments,
  pooledPearson,
  pooledStatistics,
  type LinearCalibration,
  type PooledMoments,
  type PooledStatistics,
} from './pooled.js';
export { bootstrapCI, quantileSorted, type BootstrapInterval, type BootstrapOptions } from './bootstrap.js';
export { selectBestOfK, type BestOfKOptions, type BestOfKResult, type Candidate } from './best-of-k.js';
export { derangement, summarizeScores, type ScoreSummary } from './null-baseline.js';
