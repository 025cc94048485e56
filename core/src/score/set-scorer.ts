import { pluginError, type SimulationScorer, type Sign, type TokenMoments } from '@expgen/contract';
import {
  bootstrapCI,
  pearsonFromMoments,
  pooledMoments,
  scoredMoments,
  scoredSequence,
  type BootstrapInterval,
  type PredictedSequence,
  type ScoreSet,
} from '@expgen/plugin-kit';
import { unstamped } from '../engine/plugin-calls.js';

/**
 * The stage's view of the configured scorer: the value of a scored set, by the scorer's `valueFromMoments` when it
 * offers one (the set's moments are summed, nothing is copied) and by `score` otherwise (each sequence converted
 * to the contract's Float32Array once). Errors name the scorer's plugin.
 */
export interface SetScorer {
  /** The scorer's headline value of a set; null when undefined. */
  value(set: ScoreSet): number | null;
  /**
   * The value of stored sequences under `sign` with their predictions: from the moments summed straight from the
   * rows when the scorer offers `valueFromMoments` (no scored copy of the set is made), else through `value`.
   */
  valueOfRows(sign: Sign, sequences: readonly PredictedSequence[]): number | null;
  /** The scorer's value of pooled moments, when it is a function of them (then resampling sums moments). */
  readonly fromMoments: ((moments: TokenMoments) => number | null) | null;
  /**
   * 'pearson' when `valueFromMoments` is the kit's own `pearsonFromMoments` (the correlation scorer's): a function
   * every thread has, so worker threads evaluate the resamples themselves and send back only the interval.
   */
  readonly knownStatistic: 'pearson' | null;
  /** Bootstrap interval of the value over a set's sequences by calling `score` per resample (no `fromMoments`). */
  intervalByResampling(
    set: ScoreSet,
    options: { resamples: number; seed: number; strata: readonly string[] },
  ): BootstrapInterval | null;
}

export function setScorerOf(scorer: SimulationScorer): SetScorer {
  const plugin = scorer.provenance.plugin;
  const guard = <T>(what: string, run: () => T): T => {
    try {
      return run();
    } catch (error) {
      throw pluginError(plugin, `scorer "${scorer.provenance.component}" ${what}`, error);
    }
  };
  const fromMoments = scorer.valueFromMoments
    ? (moments: TokenMoments) => guard('valueFromMoments', () => scorer.valueFromMoments!(moments))
    : null;
  const byScore = (predicted: readonly Float32Array[], actual: readonly Float32Array[]) =>
    guard('score', () => scorer.score({ predicted, actual }).value);
  return {
    fromMoments,
    // Compared behind the stamp the composition root puts on every plugin method (`plugin-calls.ts`).
    knownStatistic: unstamped(scorer.valueFromMoments) === pearsonFromMoments ? 'pearson' : null,
    value: (set) =>
      fromMoments
        ? fromMoments(pooledMoments(set))
        : byScore(
            set.map((s) => Float32Array.from(s.predicted)),
            set.map((s) => Float32Array.from(s.actual)),
          ),
    valueOfRows(sign, sequences) {
      if (fromMoments) return fromMoments(scoredMoments(sign, sequences));
      return this.value(
        sequences.map((s) => scoredSequence(sign, { activations: s.activations, countFrom: s.countFrom }, s.predicted)),
      );
    },
    intervalByResampling(set, options) {
      // Converted once; a resample is an array of references into these, never a copy of the data.
      const predicted = set.map((s) => Float32Array.from(s.predicted));
      const actual = set.map((s) => Float32Array.from(s.actual));
      const units = set.map((_, i) => i);
      return bootstrapCI(
        units,
        (sample) =>
          byScore(
            sample.map((i) => predicted[i]!),
            sample.map((i) => actual[i]!),
          ),
        options,
      );
    },
  };
}
