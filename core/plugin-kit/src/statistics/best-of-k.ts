import { bootstrapCI, type BootstrapInterval } from './bootstrap.js';
import { pooledPearson } from './pooled.js';
import type { ScoreSet, SetStatistic } from './types.js';

/** One candidate description of a feature and sign, simulated on two disjoint sets of sequences. */
export interface Candidate {
  readonly description: string;
  /** Scored on the SELECTION set (valid split: top exemplars of the sign + random sequences); used only to choose. */
  readonly selection: ScoreSet;
  /** Scored on the REPORT set (test split, disjoint from the selection set); read only for the chosen candidate. */
  readonly report: ScoreSet;
}

export interface BestOfKOptions {
  /** Bootstrap resamples for the report score's interval. */
  readonly resamples: number;
  /** Seed of the bootstrap. */
  readonly seed: number;
  /** Interval coverage; default 0.95. */
  readonly level?: number;
  /** Stratum label per sequence of the REPORT set (e.g. `top` / `random`); see `BootstrapOptions.strata`. */
  readonly reportStrata?: readonly (string | number)[];
  /** The score of a set; default `pooledPearson` (the reference score). Higher is better. */
  readonly score?: SetStatistic;
}

export interface BestOfKResult {
  /** Index of the chosen candidate, or null when no candidate has a defined selection score (or there are none). */
  readonly chosen: number | null;
  /** The chosen candidate's description; null when none is chosen. */
  readonly description: string | null;
  /** The chosen candidate's score on the selection set (optimistically biased: it won a maximum over k). */
  readonly selectionScore: number | null;
  /** The chosen candidate's score on its report set: the quality to report. Null when none chosen or undefined. */
  readonly score: number | null;
  /** Bootstrap interval of `score`, resampling the report set's sequences; null when none chosen or too few defined. */
  readonly ci: BootstrapInterval | null;
  /** Every candidate's selection score, by index (null where undefined). */
  readonly selectionScores: readonly (number | null)[];
}

/**
 * Best-of-k selection with an honest report. Each candidate is scored on its SELECTION set only; the chosen one
 * has the highest defined selection score (a null score is never chosen; ties go to the lower candidate index).
 * Its quality is then measured on its REPORT set, which played no part in the choice: the report sets of the other
 * candidates are never read, and the chosen one's only after the choice is made. Reporting the selection score
 * instead would be biased upward by the maximum over k (the reference's weakness).
 */
export function selectBestOfK(
  input: { readonly candidates: readonly Candidate[] },
  options: BestOfKOptions,
): BestOfKResult {
  const score = options.score ?? pooledPearson;
  const selectionScores = input.candidates.map((c) => score(c.selection));
  let chosen = -1;
  for (let i = 0; i < selectionScores.length; i++) {
    const s = selectionScores[i]!;
    if (s === null) continue;
    if (!Number.isFinite(s)) throw new RangeError(`selectBestOfK: candidate ${i} scored ${s}; undefined must be null`);
    if (chosen < 0 || s > selectionScores[chosen]!) chosen = i;
  }
  if (chosen < 0)
    return { chosen: null, description: null, selectionScore: null, score: null, ci: null, selectionScores };
  const winner = input.candidates[chosen]!;
  const report = winner.report;
  return {
    chosen,
    description: winner.description,
    selectionScore: selectionScores[chosen]!,
    score: score(report),
    ci: bootstrapCI(report, score, {
      resamples: options.resamples,
      seed: options.seed,
      ...(options.level === undefined ? {} : { level: options.level }),
      ...(options.reportStrata === undefined ? {} : { strata: options.reportStrata }),
    }),
    selectionScores,
  };
}
