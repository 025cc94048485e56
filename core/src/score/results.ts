import { join } from 'node:path';
import { compareFeatureKeys, type Sign } from '@expgen/contract';
import { summarizeScores, writeFileAtomic } from '@expgen/plugin-kit';
import type { ExpgenConfig } from '../config/config-schema.js';
import { arrowMetadata, PROVENANCE_FIELDS, type ProvenanceRecord } from '../engine/output-records.js';
import { recordsToArrow, type RecordColumn } from '../engine/records-arrow.js';
import { RESULT_STATUSES, type ResultStatus } from './result-states.js';
import type { ScoreEntry } from './reported-scores.js';

export { RESULT_STATUSES, STATUS_MEANINGS, type ResultStatus } from './result-states.js';

/** `expgen.format` of `results.arrow` (2: snake_case names, typed nested columns, the statuses of result-states.ts). */
export const RESULTS_FORMAT = 'expgen-results/2';

/** A simulator's provenance on a result row, with the mode it simulated in (the openai-compatible simulator's). */
export type SimulatorRecord = ProvenanceRecord & { readonly mode: string | null };

/**
 * One row of `results.jsonl` / `results.arrow`: every field is present on every row, whatever its status, with
 * null where a value is missing. Field names are a stable interface (docs/output-format.md).
 */
export interface ResultRow {
  /** The canonical feature key, `mlp/12/4061`. */
  readonly feature: string;
  /** The key's parts, to join with the exemplar files (`exemplars/<space>/layer-<layer>/`, their `feature` column). */
  readonly space: string;
  readonly layer: number;
  readonly index: number;
  readonly sign: Sign;
  /** What happened to this feature-sign (result-states.ts); `reason` says why for every status but `scored`. */
  readonly status: ResultStatus;
  readonly reason: string | null;
  /** The chosen description (best on the valid split); null when none was chosen. */
  readonly description: string | null;
  /** Quality of the chosen description on the test split, never used to choose it (the scorer's value). */
  readonly score: number | null;
  /** 95% bootstrap interval of `score` over test sequences: [low, high]. */
  readonly ci: readonly [number, number] | null;
  /** The chosen candidate's score on the valid split, where it was chosen (biased up by the choice). */
  readonly selection_score: number | null;
  /** Candidates the describer produced. */
  readonly candidates: number;
  /** Test-split statistics of the chosen description. */
  readonly pearson: number | null;
  readonly r_squared: number | null;
  readonly absolute_deviation_explained: number | null;
  /** The chosen description scored on valid and test pooled. */
  readonly pooled_score: number | null;
  /** This feature's test data scored with another feature's chosen description (the run's null baseline). */
  readonly null_score: number | null;
  readonly describer: ProvenanceRecord | null;
  readonly simulator: SimulatorRecord | null;
  readonly scorer: ProvenanceRecord | null;
  /**
   * Every reported scorer's result on the test split, by score name (`scorers` in the config, or `scorer` alone),
   * in config order: its own status and reason, value, 95% bootstrap interval, null baseline, judgments and
   * failures. In `results.arrow` a struct of one typed struct per scorer (`resultArrowColumns`).
   */
  readonly scores: Readonly<Record<string, ScoreEntry>>;
}

export const RESULT_COLUMNS: readonly RecordColumn[] = [
  { name: 'feature', type: 'utf8' },
  { name: 'space', type: 'utf8' },
  { name: 'layer', type: 'int32' },
  { name: 'index', type: 'int32' },
  { name: 'sign', type: 'utf8' },
  { name: 'status', type: 'utf8' },
  { name: 'reason', type: 'utf8' },
  { name: 'description', type: 'utf8' },
  { name: 'score', type: 'float64' },
  { name: 'ci', type: { list: 'float64' } },
  { name: 'selection_score', type: 'float64' },
  { name: 'candidates', type: 'int32' },
  { name: 'pearson', type: 'float64' },
  { name: 'r_squared', type: 'float64' },
  { name: 'absolute_deviation_explained', type: 'float64' },
  { name: 'pooled_score', type: 'float64' },
  { name: 'null_score', type: 'float64' },
  { name: 'describer', type: { struct: PROVENANCE_FIELDS } },
  { name: 'simulator', type: { struct: [...PROVENANCE_FIELDS, { name: 'mode', type: 'utf8' }] } },
  { name: 'scorer', type: { struct: PROVENANCE_FIELDS } },
  // One field per reported scorer, each a SCORE_ENTRY_FIELDS struct: the run's names, so `resultArrowColumns`.
  { name: 'scores', type: { struct: [] } },
];

/** The fields of one scorer's entry in `scores` (a `ScoreEntry`). */
export const SCORE_ENTRY_FIELDS: readonly RecordColumn[] = [
  { name: 'status', type: 'utf8' },
  { name: 'reason', type: 'utf8' },
  { name: 'score', type: 'float64' },
  { name: 'ci', type: { list: 'float64' } },
  { name: 'null_score', type: 'float64' },
  { name: 'judgments', type: 'int32' },
  { name: 'failures', type: 'int32' },
];

/**
 * The columns of `results.arrow` for rows reporting the scorers `names`: `RESULT_COLUMNS`, with `scores` a struct
 * of one `SCORE_ENTRY_FIELDS` struct per scorer, so JSON Lines and Arrow have the same shape
 * (`scores.detection.score` in DuckDB, `pl.col("scores").struct.field("detection")` in polars).
 */
export function resultArrowColumns(names: readonly string[]): RecordColumn[] {
  return RESULT_COLUMNS.map((c) =>
    c.name === 'scores'
      ? { name: 'scores', type: { struct: names.map((name) => ({ name, type: { struct: SCORE_ENTRY_FIELDS } })) } }
      : c,
  );
}

/** The reported scorers' names, in the order the rows hold them (every row of a run holds the same). */
export function scoreNames(rows: readonly { readonly scores?: Readonly<Record<string, unknown>> }[]): string[] {
  const names = new Set<string>();
  for (const row of rows) for (const name of Object.keys(row.scores ?? {})) names.add(name);
  return [...names];
}

/** Statuses counted over a set of result entries, the mean over the scored ones and the null baseline beside it. */
interface StatesAndMeans {
  /** Entries per status, every status listed (zero included). */
  readonly states: Readonly<Record<ResultStatus, number>>;
  /** Mean test score over the scored entries, and its 95% bootstrap interval over those entries. */
  readonly mean_score: number | null;
  readonly mean_score_ci: readonly [number, number] | null;
  /** Entries the mean and its interval are taken over (status `scored`: the score is defined). */
  readonly mean_score_rows: number;
  /** Mean null score over the scored entries that have one, and its interval over those entries. */
  readonly null_baseline: number | null;
  readonly null_baseline_ci: readonly [number, number] | null;
  /**
   * Entries the null baseline is taken over: scored entries whose partner's description gave a defined score on
   * their test data (none when the partner has no chosen description, or its simulation there is constant).
   */
  readonly null_baseline_rows: number;
}

/**
 * One reported scorer over the run's rows, named as the run's own means are: its entries per status, its mean over
 * the entries it scored and their interval, its null baseline, and the judgments they rest on.
 */
export interface ScorerSummary extends StatesAndMeans {
  /** Judgments (simulated test sequences for a scorer of simulations) the scores rest on, and those that failed. */
  readonly judgments: number;
  readonly failures: number;
}

/**
 * The run's summary, as `expgen run --json` prints it: how many feature-signs ended in each status, and each mean
 * with the rows it is taken over.
 */
export interface RunSummary extends StatesAndMeans {
  readonly feature_signs: number;
  /** Every reported scorer, by score name, in config order. */
  readonly scores: Readonly<Record<string, ScorerSummary>>;
}

export function summarize(
  rows: readonly ResultRow[],
  settings: Pick<ExpgenConfig['score'], 'bootstrap' | 'seed'>,
): RunSummary {
  const states = countStates(rows);
  const scored = rows.filter((r) => r.status === 'scored');
  const options = { resamples: settings.bootstrap, seed: settings.seed };
  const scores = summarizeScores(
    scored.map((r) => r.score),
    options,
  );
  const nulls = summarizeScores(
    scored.map((r) => r.null_score),
    options,
  );
  return {
    feature_signs: rows.length,
    states,
    mean_score: scores.mean,
    mean_score_ci: scores.ci ? [scores.ci.low, scores.ci.high] : null,
    mean_score_rows: scores.defined,
    null_baseline: nulls.mean,
    null_baseline_ci: nulls.ci ? [nulls.ci.low, nulls.ci.high] : null,
    null_baseline_rows: nulls.defined,
    scores: Object.fromEntries(
      scoreNames(rows).map((name) => [
        name,
        summarizeScorer(
          rows.flatMap((r) => r.scores[name] ?? []),
          options,
        ),
      ]),
    ),
  };
}

function countStates(items: readonly { readonly status: ResultStatus }[]): Record<ResultStatus, number> {
  const states = Object.fromEntries(RESULT_STATUSES.map((s) => [s, 0])) as Record<ResultStatus, number>;
  for (const item of items) states[item.status]++;
  return states;
}

function summarizeScorer(
  entries: readonly ScoreEntry[],
  options: { readonly resamples: number; readonly seed: number },
): ScorerSummary {
  const scored = entries.filter((e) => e.status === 'scored');
  const values = summarizeScores(
    scored.map((e) => e.score),
    options,
  );
  const nulls = summarizeScores(
    scored.map((e) => e.null_score),
    options,
  );
  return {
    states: countStates(entries),
    mean_score: values.mean,
    mean_score_ci: values.ci ? [values.ci.low, values.ci.high] : null,
    mean_score_rows: values.defined,
    null_baseline: nulls.mean,
    null_baseline_ci: nulls.ci ? [nulls.ci.low, nulls.ci.high] : null,
    null_baseline_rows: nulls.defined,
    judgments: entries.reduce((n, e) => n + e.judgments, 0),
    failures: entries.reduce((n, e) => n + e.failures, 0),
  };
}

/**
 * `results.jsonl` and `results.arrow`, rows in feature-key order (the contract's `compareFeatureKeys`) then sign,
 * written whole and atomically; every line has the columns' keys, in their order.
 */
export function writeResults(outDir: string, rows: readonly ResultRow[]): void {
  const ordered = [...rows]
    .sort(compareResultRows)
    .map(
      (row) =>
        Object.fromEntries(
          RESULT_COLUMNS.map((c) => [c.name, (row as unknown as Record<string, unknown>)[c.name] ?? null]),
        ) as unknown as ResultRow,
    );
  writeFileAtomic(
    join(outDir, 'results.jsonl'),
    ordered.map((r) => JSON.stringify(r)).join('\n') + (ordered.length ? '\n' : ''),
  );
  writeFileAtomic(
    join(outDir, 'results.arrow'),
    recordsToArrow(
      resultArrowColumns(scoreNames(ordered)),
      ordered as unknown as Record<string, unknown>[],
      arrowMetadata(RESULTS_FORMAT),
    ),
  );
}

/** Result order: feature key, then the positive sign before the negative. */
export function compareResultRows(
  a: Pick<ResultRow, 'space' | 'layer' | 'index' | 'sign'>,
  b: Pick<ResultRow, 'space' | 'layer' | 'index' | 'sign'>,
): number {
  const byKey = compareFeatureKeys(a, b);
  if (byKey !== 0) return byKey;
  return a.sign === b.sign ? 0 : a.sign === 'positive' ? -1 : 1;
}
