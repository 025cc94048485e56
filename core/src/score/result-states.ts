/**
 * What happened to a feature-sign in stage 3: the `status` of its result row. Every status but `scored` comes with
 * a `reason` on the row; the summary counts each, and the report's index explains each with these words.
 */
export const RESULT_STATUSES = ['scored', 'no_test_score', 'no_selection_score', 'failed', 'skipped'] as const;
export type ResultStatus = (typeof RESULT_STATUSES)[number];

/** One sentence per status, for the report's index and the docs (docs/output-format.md repeats them). */
export const STATUS_MEANINGS: Readonly<Record<ResultStatus, string>> = {
  scored: 'a description was chosen on the valid split and has a score on the test split',
  no_test_score:
    'a description was chosen on the valid split, but its test score is undefined: its simulation, or the true activation, is the same for every test token (the reason says which)',
  no_selection_score:
    'no candidate has a defined score on the valid split (each simulation, or the true activation, is the same for every token there), so none was chosen',
  failed: 'nothing to score: the describer produced no candidate, or a split holds no exemplar of the sign',
  skipped: 'the feature never reaches this sign, so it was not described',
};

/** Short labels, as the summary table and the report's index cells print them. */
export const STATUS_LABELS: Readonly<Record<ResultStatus, string>> = {
  scored: 'scored',
  no_test_score: 'no test score',
  no_selection_score: 'no selection score',
  failed: 'failed',
  skipped: 'skipped',
};

/** The reason of a `no_test_score` row: which side of the test split's tokens is constant. */
export function noTestScoreReason(
  constant: { readonly predicted: boolean; readonly actual: boolean } | null,
  scorer: string,
): string {
  if (constant?.predicted && constant.actual)
    return 'the simulation of the chosen description and the true activation are both the same for every test token';
  if (constant?.predicted)
    return 'the simulation of the chosen description is the same for every test token (nothing it describes occurs in the test sequences)';
  if (constant?.actual) return 'the true activation of this sign is the same for every test token';
  return `the scorer "${scorer}" gives no value on the test split`;
}

export const NO_SELECTION_SCORE_REASON =
  'no candidate has a defined score on the valid split: each simulation, or the true activation, is the same for every token there';
