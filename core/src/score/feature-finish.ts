import type { TokenMoments } from '@expgen/contract';
import {
  momentsOf,
  pooledStatistics,
  resampleMoments,
  scoredSequence,
  sequenceMoments,
  type ScoredSequence,
} from '@expgen/plugin-kit';
import {
  featureDetailJson,
  sequenceOf,
  writeFileDurably,
  type FeatureDetail,
  type PackedSequences,
} from './feature-detail.js';

/**
 * The host work of one feature-sign after its simulations: the test-split statistics of the chosen description,
 * the bootstrap's resampled moment sums, and the detail file. It depends on nothing but its input, so the stage
 * runs it on worker threads (`score.concurrency`) or inline, with identical results.
 */
export interface FinishTask {
  readonly detail: FeatureDetail;
  /** Bootstrap of the test score over sequences (stratified top / random); null for none. */
  readonly bootstrap: { readonly resamples: number; readonly seed: number } | null;
  /** Whether the scorer's value is a function of the moments: then resample moments here. */
  readonly resampleMoments: boolean;
}

export interface FinishResult {
  /** The engine's statistics of the chosen description on the test split; null when nothing was chosen. */
  readonly test: {
    readonly pearson: number | null;
    readonly rSquared: number | null;
    readonly absoluteDeviationExplained: number | null;
    /** Pooled moments of the test set, for the scorer's `valueFromMoments`. */
    readonly moments: TokenMoments;
    /** Pooled moments of the valid and test sets together (the pooled score). */
    readonly pooledMoments: TokenMoments;
    /** Resampled moment sums of the test set and their centers; null without a moment bootstrap. */
    readonly resampled: {
      readonly sums: Float64Array;
      readonly centerPredicted: number;
      readonly centerActual: number;
    } | null;
  } | null;
}

/** The chosen description's scored sequences on the test and valid splits, as the statistics read them. */
export function chosenSets(detail: FeatureDetail): { report: ScoredSequence[]; selection: ScoredSequence[] } | null {
  if (detail.chosen === null || !detail.reportPredictions) return null;
  const scored = (set: PackedSequences, predictions: Float32Array) =>
    set.meta.map((e, s) => {
      const activations = sequenceOf(set.activations, set.offsets, s);
      return scoredSequence(
        detail.sign,
        { activations, countFrom: e.countFrom, length: activations.length },
        sequenceOf(predictions, set.offsets, s),
      );
    });
  const distinct = detail.candidates[detail.chosen]!.distinct;
  return {
    report: scored(detail.report, detail.reportPredictions),
    selection: scored(detail.selection, detail.selectionPredictions[distinct]!.values),
  };
}

export async function finishFeature(task: FinishTask): Promise<FinishResult> {
  const sets = chosenSets(task.detail);
  let test: FinishResult['test'] = null;
  if (sets) {
    const stats = pooledStatistics(sets.report);
    const moments = sequenceMoments(sets.report);
    const sums =
      task.resampleMoments && task.bootstrap
        ? resampleMoments(moments, { ...task.bootstrap, strata: task.detail.report.meta.map((e) => e.stratum) })
        : null;
    test = {
      pearson: stats.pearson,
      rSquared: stats.rSquared,
      absoluteDeviationExplained: stats.absoluteDeviationExplained,
      moments: momentsOf(moments),
      pooledMoments: momentsOf(sequenceMoments([...sets.selection, ...sets.report])),
      resampled: sums ? { sums, centerPredicted: moments.centerPredicted, centerActual: moments.centerActual } : null,
    };
  }
  await writeFileDurably(task.detail.path, featureDetailJson(task.detail));
  return { test };
}
