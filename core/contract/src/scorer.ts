import type { DescribeUsage } from './describer.js';
import type { FeatureKey } from './feature-key.js';
import type { Provenance } from './provenance.js';
import type { Sign } from './sign.js';

// Two kinds of scorer judge a description. A simulation scorer compares a simulator's per-token predictions with the
// true activations (the correlation scorer); it is synchronous, sees only numbers, and is the kind best-of-k chooses
// candidates with. A judge scorer shows a judge model the description and sequences of the feature, and compares
// the judge's answers with the truth (detection, fuzzing); it is asynchronous and sees the description, the
// sequences' tokens and their true activations. The engine reports every scorer of a run the same way: a value on
// the test split, a bootstrap interval over sequences, and a null baseline.

export interface ScoreRequest {
  /** Per sequence, the simulator's per-token predictions. */
  readonly predicted: readonly Float32Array[];
  /** Per sequence, the true (signed) activations, same lengths. */
  readonly actual: readonly Float32Array[];
}

export interface ScoreResult {
  /** The headline score; null when undefined (e.g. a constant vector), never 0 or NaN in its place. */
  readonly value: number | null;
  /** Further statistics by name (null when undefined). */
  readonly stats: Readonly<Record<string, number | null>>;
  readonly scoredBy: Provenance;
}

/**
 * The pooled second moments of predicted (x) against true (y) activations over every token of a set of sequences:
 * what a correlation, a covariance or a linear fit is a function of. sxx = Σ(x − x̄)², syy = Σ(y − ȳ)²,
 * sxy = Σ(x − x̄)(y − ȳ).
 */
export interface TokenMoments {
  readonly tokens: number;
  readonly meanPredicted: number;
  readonly meanActual: number;
  readonly sxx: number;
  readonly syy: number;
  readonly sxy: number;
  /** Every pooled prediction is exactly the same value (also when there are no tokens). */
  readonly constantPredicted: boolean;
  /** Every pooled true activation is exactly the same value (also when there are no tokens). */
  readonly constantActual: boolean;
}

/** Compares simulated with true activations: the kind of scorer best-of-k selection uses. */
export interface SimulationScorer {
  /** Absent or `simulation` (scorers written before judges existed have no `method`). */
  readonly method?: 'simulation';
  readonly provenance: Provenance;
  score(request: ScoreRequest): ScoreResult;
  /**
   * Optional, for scorers whose headline value depends on the tokens only through their pooled moments (Pearson's
   * r, R², a covariance): the value for a set with these moments, equal to `score(request).value` for any request
   * whose tokens have them (up to rounding). With it the engine keeps per-sequence sums and evaluates bootstrap
   * resamples and selection rounds by adding them, instead of calling `score` on copies of every resampled set.
   * It must not keep the object it is given: the engine reuses it from one resample to the next.
   */
  valueFromMoments?(moments: TokenMoments): number | null;
  dispose?(): Promise<void> | void;
}

/** One sequence a judge may be shown: the subject's tokens and the feature's true activation on each. */
export interface JudgeSequence {
  /** The subject's token ids, prefix included. */
  readonly tokens: readonly number[];
  /** The feature's raw (signed) activation at each token, same length. */
  readonly activations: Float32Array;
  /** First position that counts: tokens before it are a fixed prefix (a chat header), neither shown nor judged. */
  readonly countFrom: number;
  /** Rank in its list (0 = the strongest). */
  readonly rank: number;
}

/** Which of the feature's kept lists a judged sequence comes from. */
export type JudgeList = 'top' | 'opposite' | 'random';

export interface JudgeRequest {
  readonly feature: FeatureKey;
  readonly sign: Sign;
  /** The description judged: the feature's chosen one, or, for the null baseline, another feature's. */
  readonly description: string;
  /**
   * Every sequence stage 1 kept for the feature in the split judged on (the test split, never used to choose the
   * description), each list in rank order. The scorer draws the sequences it shows from them.
   */
  readonly sequences: {
    /** The sign's top exemplars. */
    readonly top: readonly JudgeSequence[];
    /** The other sign's top exemplars: where the feature goes most strongly the other way. */
    readonly opposite: readonly JudgeSequence[];
    /** The feature's random sequences of the split. */
    readonly random: readonly JudgeSequence[];
  };
  /** Seed of every random choice the scorer makes (draws, order, marks). */
  readonly seed: number;
  /**
   * `report`: the feature's own chosen description; `null`: another feature's description on this feature's data
   * (the null baseline). A scorer draws the same sequences for both, so the two differ only in the description.
   */
  readonly purpose: 'report' | 'null';
}

/** The judge's verdict on one shown sequence, beside the truth. */
export interface Judgment {
  /** The sequence: its list in the request and its index there. */
  readonly list: JudgeList;
  readonly index: number;
  /**
   * The group it was drawn for (`activating_q1`, `non_activating`, `hard_negative`, ...): per-group figures. In
   * snake_case, as the judgments files write it and the statistics keys (`accuracy_<group>`) use it.
   */
  readonly group: string;
  /**
   * What is true of the sequence as shown: for detection, that the feature fires in it; for fuzzing, that its
   * marked tokens are the ones where the feature fires.
   */
  readonly truth: boolean;
  /** The judge's answer; null when no usable answer came, after retries: a failure, never a guess. */
  readonly answer: boolean | null;
}

export interface JudgeResult {
  /** One per sequence shown, failures (answer null) included. */
  readonly judgments: readonly Judgment[];
  /** One line per batch whose answer could not be used (after retries), saying why. */
  readonly failures: readonly string[];
  /** Further statistics of the answered judgments by name (accuracy, precision, recall, ...; null when undefined). */
  readonly stats: Readonly<Record<string, number | null>>;
  /** What the judge calls cost, in the describer's units: requests, tokens, cached calls. */
  readonly usage?: DescribeUsage;
  readonly judgedBy: Provenance;
}

/** Shows a judge model the description and sequences of the feature, and compares its answers with the truth. */
export interface JudgeScorer {
  readonly method: 'judge';
  readonly provenance: Provenance;
  judge(request: JudgeRequest): Promise<JudgeResult>;
  /**
   * The headline value of a set of answered judgments (every `answer` a boolean): the engine calls it on the
   * judgments of the test split, on each bootstrap resample of them, and on the null baseline's. Null when
   * undefined (no judgments, or a class missing where the value needs both), never NaN; a rate in [0, 1] with 1
   * for a judge that is always right.
   */
  valueOfJudgments(judgments: readonly Judgment[]): number | null;
  dispose?(): Promise<void> | void;
}

/** A scorer of either kind (`method` tells them apart). */
export type Scorer = SimulationScorer | JudgeScorer;

export function isJudgeScorer(scorer: Scorer): scorer is JudgeScorer {
  return scorer.method === 'judge';
}
