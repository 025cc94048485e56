/**
 * One scored sequence: the simulator's prediction and the true activation (already signed, see
 * `trueActivations`) of each COUNTED token, position by position, same length. A sequence may have no counted
 * token (length 0); it then contributes nothing to pooled statistics but is still a unit of resampling.
 */
export interface ScoredSequence {
  readonly predicted: ArrayLike<number>;
  readonly actual: ArrayLike<number>;
}

/**
 * A set of scored sequences whose tokens are pooled into one statistic (e.g. the valid split's top exemplars of a
 * sign plus random sequences). The sequences, not the tokens, are the units the bootstrap resamples.
 */
export type ScoreSet = readonly ScoredSequence[];

/** A statistic of a set; null where undefined (constant data, too few tokens), never NaN. */
export type SetStatistic = (set: ScoreSet) => number | null;
