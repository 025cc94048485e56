import type { FeatureKey, Sign, TokenMoments } from '@expgen/contract';
import {
  intervalFromResampledMoments,
  momentsOf,
  pearsonFromMoments,
  pooledStatistics,
  resampleMoments,
  scoredSequence,
  sequenceMoments,
  type ScoredSequence,
} from '@expgen/plugin-kit';
import {
  featureDetailJson,
  offsetsOf,
  selectionPrediction,
  writeFileDurably,
  type DetailCandidate,
  type FeatureDetail,
  type PackedSimulations,
} from './feature-detail.js';
import type { ScoringSequenceReader, ScoringSequences } from './scoring-sequences.js';

/**
 * The host work of one feature-sign after its simulations: the test-split statistics of the chosen description,
 * the bootstrap's resampled moment sums, and the detail file. It depends on nothing but its input and the exemplar
 * files, so the stage runs it on worker threads (`score.concurrency`), each reading the exemplars itself, or
 * inline, with identical results. Only the simulations and a few small fields cross threads.
 */
export interface FinishTask {
  readonly key: FeatureKey;
  readonly sign: Sign;
  /** The canonical feature key, as the detail file spells it. */
  readonly feature: string;
  readonly path: string;
  /** Index of the chosen candidate, or null. */
  readonly chosen: number | null;
  readonly strategy: string;
  /** Which valid and test sequences were used (`score.selection`, `score.report`); test is null without a choice. */
  readonly selectionCounts: { readonly top: number; readonly random: number };
  readonly reportCounts: { readonly top: number; readonly random: number } | null;
  readonly candidates: readonly DetailCandidate[];
  readonly simulations: PackedSimulations;
  /** Bootstrap of the test score over sequences (stratified top / random); null for none. */
  readonly bootstrap: { readonly resamples: number; readonly seed: number } | null;
  /** Whether the scorer's value is a function of the moments: then resample moments here. */
  readonly resampleMoments: boolean;
  /**
   * Set when the scorer's `valueFromMoments` is the kit's own `pearsonFromMoments` (the correlation scorer's): then
   * this thread evaluates the resamples too, and only the interval travels back.
   */
  readonly knownStatistic: 'pearson' | null;
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
    /**
     * Resampled moment sums of the test set and their centers, for the scorer to evaluate; null without a moment
     * bootstrap or when the interval was computed here.
     */
    readonly resampled: {
      readonly sums: Float64Array;
      readonly centerPredicted: number;
      readonly centerActual: number;
    } | null;
    /** The interval, when this thread could evaluate the scorer's statistic (`knownStatistic`). */
    readonly interval?: { readonly low: number; readonly high: number } | null;
    /** The scorer's value of `moments` and of `pooledMoments`, likewise. */
    readonly values?: { readonly score: number | null; readonly pooledScore: number | null };
  } | null;
}

const NO_SEQUENCES: ScoringSequences = { rows: [], strata: [], tokens: 0 };

/** The task's detail, with its sequences read from the exemplars. */
export async function detailOf(task: FinishTask, reader: ScoringSequenceReader): Promise<FeatureDetail> {
  const [selection, report] = await Promise.all([
    reader.read(task.key, task.sign, 'valid', task.selectionCounts),
    task.reportCounts ? reader.read(task.key, task.sign, 'test', task.reportCounts) : NO_SEQUENCES,
  ]);
  return {
    path: task.path,
    key: task.key,
    feature: task.feature,
    sign: task.sign,
    chosen: task.chosen,
    strategy: task.strategy,
    selection,
    report,
    candidates: task.candidates,
    simulations: task.simulations,
  };
}

/** The chosen description's scored sequences on the test and valid splits, as the statistics read them. */
export function chosenSets(detail: FeatureDetail): { report: ScoredSequence[]; selection: ScoredSequence[] } | null {
  const reportPredictions = detail.simulations.report;
  if (detail.chosen === null || !reportPredictions) return null;
  const distinct = detail.candidates[detail.chosen]!.distinct;
  const selectionOffsets = offsetsOf(detail.selection);
  const reportOffsets = offsetsOf(detail.report);
  const scored = (set: ScoringSequences, prediction: (s: number) => Float32Array) =>
    set.rows.map((row, s) =>
      scoredSequence(
        detail.sign,
        { activations: row.activations, countFrom: row.countFrom, length: row.activations.length },
        prediction(s),
      ),
    );
  return {
    report: scored(detail.report, (s) => reportPredictions.subarray(reportOffsets[s]!, reportOffsets[s + 1]!)),
    selection: scored(detail.selection, (s) => selectionPrediction(detail, selectionOffsets, distinct, s)!),
  };
}

/**
 * `buffers` hands back resampled-sums buffers the caller is done with (the bootstrap fills one per feature-sign:
 * recycling them spares the collector tens of kilobytes per feature). `computed` is called when the work left is
 * the detail file's fsync, which waits in the thread pool, not on this thread.
 */
export async function finishFeature(
  task: FinishTask,
  reader: ScoringSequenceReader,
  buffers: Float64Array[] = [],
  computed?: () => void,
): Promise<FinishResult> {
  const detail = await detailOf(task, reader);
  const sets = chosenSets(detail);
  let test: FinishResult['test'] = null;
  if (sets) {
    const moments = sequenceMoments(sets.report);
    const pooled = momentsOf(moments);
    const stats = pooledStatistics(sets.report, pooled);
    const sums =
      task.resampleMoments && task.bootstrap
        ? resampleMoments(moments, { ...task.bootstrap, strata: detail.report.strata }, buffers.pop())
        : null;
    const both = momentsOf(sequenceMoments([...sets.selection, ...sets.report]));
    if (task.knownStatistic === 'pearson') {
      const interval = sums ? intervalFromResampledMoments(sums, moments, pearsonFromMoments) : null;
      if (sums) buffers.push(sums);
      test = {
        pearson: stats.pearson,
        rSquared: stats.rSquared,
        absoluteDeviationExplained: stats.absoluteDeviationExplained,
        moments: pooled,
        pooledMoments: both,
        resampled: null,
        interval: interval && { low: interval.low, high: interval.high },
        values: { score: pearsonFromMoments(pooled), pooledScore: pearsonFromMoments(both) },
      };
    } else
      test = {
        pearson: stats.pearson,
        rSquared: stats.rSquared,
        absoluteDeviationExplained: stats.absoluteDeviationExplained,
        moments: pooled,
        pooledMoments: both,
        resampled: sums ? { sums, centerPredicted: moments.centerPredicted, centerActual: moments.centerActual } : null,
      };
  }
  await writeFileDurably(task.path, featureDetailJson(detail), computed);
  return { test };
}
