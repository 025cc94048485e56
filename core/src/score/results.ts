import { join } from 'node:path';
import { compareFeatureKeys, parseFeatureKey, type FeatureKey, type Provenance, type Sign } from '@expgen/contract';
import { summarizeScores, writeFileAtomic } from '@expgen/plugin-kit';
import type { ExpgenConfig } from '../config/config-schema.js';
import { recordsToArrow, type RecordColumn } from '../engine/records-arrow.js';
import { snakeCaseName } from '../engine/resolved-config.js';
import type { ScoreEntry } from './reported-scores.js';

/**
 * One row of `results.jsonl` / `results.arrow`: every field is present on every row, failed and skipped rows
 * included, with null where a value is missing. Field names are a stable interface.
 */
export interface ResultRow {
  readonly feature: string;
  readonly sign: Sign;
  /** `scored`; `failed` (no candidate, or no candidate could be scored); `skipped` (the sign is never reached). */
  readonly status: 'scored' | 'failed' | 'skipped';
  readonly reason: string | null;
  /** The chosen description (best on the valid split). */
  readonly description: string | null;
  /** Quality of the chosen description on the test split, never used to choose it (the scorer's value). */
  readonly score: number | null;
  /** 95% bootstrap interval of `score` over test sequences: [low, high]. */
  readonly ci: readonly [number, number] | null;
  /** The chosen candidate's score on the valid split, where it was chosen (biased up by the choice). */
  readonly selectionScore: number | null;
  /** Candidates the describer produced. */
  readonly candidates: number;
  /** Test-split statistics of the chosen description. */
  readonly pearson: number | null;
  readonly rSquared: number | null;
  readonly absoluteDeviationExplained: number | null;
  /** The chosen description scored on valid and test pooled. */
  readonly pooledScore: number | null;
  /** This feature's test data scored with another feature's chosen description (the run's null baseline). */
  readonly nullScore: number | null;
  readonly describer: Provenance | null;
  readonly simulator: (Provenance & { readonly mode: string | null }) | null;
  readonly scorer: Provenance | null;
  /**
   * Every reported scorer's result on the test split, by name (`scorers` in the config, or `scorer` alone): value,
   * 95% bootstrap interval, null baseline, judgments and failures. In `results.arrow`, one struct column per
   * scorer, `scores_<name in snake_case>`.
   */
  readonly scores: Readonly<Record<string, ScoreEntry>>;
}

export const RESULT_COLUMNS: readonly RecordColumn[] = [
  { name: 'feature', type: 'utf8' },
  { name: 'sign', type: 'utf8' },
  { name: 'status', type: 'utf8' },
  { name: 'reason', type: 'utf8' },
  { name: 'description', type: 'utf8' },
  { name: 'score', type: 'float64' },
  { name: 'ci', type: 'float64-list' },
  { name: 'selectionScore', type: 'float64' },
  { name: 'candidates', type: 'int32' },
  { name: 'pearson', type: 'float64' },
  { name: 'rSquared', type: 'float64' },
  { name: 'absoluteDeviationExplained', type: 'float64' },
  { name: 'pooledScore', type: 'float64' },
  { name: 'nullScore', type: 'float64' },
  { name: 'describer', type: 'json' },
  { name: 'simulator', type: 'json' },
  { name: 'scorer', type: 'json' },
  { name: 'scores', type: 'json' },
];

/** The fields of a `scores_<name>` struct column of `results.arrow`: a `ScoreEntry`. */
const SCORE_ENTRY_FIELDS: readonly RecordColumn[] = [
  { name: 'score', type: 'float64' },
  { name: 'ci', type: 'float64-list' },
  { name: 'null_score', type: 'float64' },
  { name: 'judgments', type: 'int32' },
  { name: 'failures', type: 'int32' },
];

/**
 * The columns of `results.arrow` for rows reporting the scorers `names`: those of the JSON Lines, the nested
 * `scores` as one typed struct column per scorer (`scores_<name in snake_case>`) instead of JSON text.
 */
export function resultArrowColumns(names: readonly string[]): RecordColumn[] {
  return [
    ...RESULT_COLUMNS.filter((c) => c.name !== 'scores'),
    ...names.map((name) => ({ name: scoreColumnName(name), type: 'struct' as const, fields: SCORE_ENTRY_FIELDS })),
  ];
}

/** The Arrow column of a reported scorer's entries. */
export function scoreColumnName(name: string): string {
  return `scores_${snakeCaseName(name)}`;
}

/** One reported scorer over the run's scored rows: means with their intervals, and the judgments they rest on. */
export interface ScorerSummary {
  /** Rows whose score is defined (the mean is over them). */
  readonly rows: number;
  readonly mean: number | null;
  readonly ci: readonly [number, number] | null;
  /** Rows whose null score is defined, and their mean. */
  readonly null_rows: number;
  readonly null_mean: number | null;
  readonly null_ci: readonly [number, number] | null;
  /** Judgments (simulated sequences for a simulation scorer) the scores rest on, and judgments that failed. */
  readonly judgments: number;
  readonly failures: number;
}

export interface RunSummary {
  readonly features: number;
  readonly scored: number;
  readonly failed: number;
  readonly skipped: number;
  readonly meanScore: number | null;
  readonly meanScoreCi: readonly [number, number] | null;
  readonly nullBaseline: number | null;
  readonly nullBaselineCi: readonly [number, number] | null;
  /** Every reported scorer, by name, in config order. */
  readonly scores: Readonly<Record<string, ScorerSummary>>;
}

export function summarize(
  rows: readonly ResultRow[],
  settings: Pick<ExpgenConfig['score'], 'bootstrap' | 'seed'>,
): RunSummary {
  const scored = rows.filter((r) => r.status === 'scored');
  const scores = summarizeScores(
    scored.map((r) => r.score),
    { resamples: settings.bootstrap, seed: settings.seed },
  );
  const nulls = summarizeScores(
    scored.map((r) => r.nullScore),
    { resamples: settings.bootstrap, seed: settings.seed },
  );
  return {
    features: rows.length,
    scored: scored.length,
    failed: rows.filter((r) => r.status === 'failed').length,
    skipped: rows.filter((r) => r.status === 'skipped').length,
    meanScore: scores.mean,
    meanScoreCi: scores.ci ? [scores.ci.low, scores.ci.high] : null,
    nullBaseline: nulls.mean,
    nullBaselineCi: nulls.ci ? [nulls.ci.low, nulls.ci.high] : null,
    scores: Object.fromEntries(
      scoreNames(rows).map((name) => {
        const entries = scored.map((r) => r.scores?.[name]).filter((e): e is ScoreEntry => e !== undefined);
        const options = { resamples: settings.bootstrap, seed: settings.seed };
        const values = summarizeScores(
          entries.map((e) => e.score),
          options,
        );
        const nullValues = summarizeScores(
          entries.map((e) => e.null_score),
          options,
        );
        const summary: ScorerSummary = {
          rows: entries.filter((e) => e.score !== null).length,
          mean: values.mean,
          ci: values.ci ? [values.ci.low, values.ci.high] : null,
          null_rows: entries.filter((e) => e.null_score !== null).length,
          null_mean: nullValues.mean,
          null_ci: nullValues.ci ? [nullValues.ci.low, nullValues.ci.high] : null,
          judgments: entries.reduce((n, e) => n + e.judgments, 0),
          failures: entries.reduce((n, e) => n + e.failures, 0),
        };
        return [name, summary];
      }),
    ),
  };
}

/** The reported scorers' names, in the order the rows hold them (every row holds the same). */
export function scoreNames(rows: readonly Pick<ResultRow, 'scores'>[]): string[] {
  const names: string[] = [];
  for (const row of rows) for (const name of Object.keys(row.scores ?? {})) if (!names.includes(name)) names.push(name);
  return names;
}

/**
 * `results.jsonl` and `results.arrow`, rows in feature-key order (the contract's `compareFeatureKeys`) then sign,
 * written whole and atomically. `keys[i]` is row i's feature key when the caller holds it; otherwise each row's
 * key is parsed once.
 */
export function writeResults(outDir: string, rows: readonly ResultRow[], keys?: readonly FeatureKey[]): void {
  const keyed = rows.map((row, i) => ({ row, key: keys?.[i] ?? parseFeatureKey(row.feature) }));
  keyed.sort((a, b) => compareRows(a.key, a.row.sign, b.key, b.row.sign));
  // Keys in the documented column order, so every line reads the same way.
  const ordered = keyed.map(({ row }) =>
    Object.fromEntries(
      RESULT_COLUMNS.map((c) => [c.name, (row as unknown as Record<string, unknown>)[c.name] ?? null]),
    ),
  );
  writeFileAtomic(
    join(outDir, 'results.jsonl'),
    ordered.map((r) => JSON.stringify(r)).join('\n') + (ordered.length ? '\n' : ''),
  );
  const names = scoreNames(keyed.map(({ row }) => row));
  const arrowColumns = resultArrowColumns(names);
  const arrowRows = keyed.map(({ row }, i) => ({
    ...ordered[i]!,
    ...Object.fromEntries(names.map((name) => [scoreColumnName(name), row.scores?.[name] ?? null])),
  }));
  writeFileAtomic(join(outDir, 'results.arrow'), recordsToArrow(arrowColumns, arrowRows));
}

/** Result order: feature key, then the positive sign before the negative. */
export function compareRows(a: FeatureKey, signA: Sign, b: FeatureKey, signB: Sign): number {
  const byKey = compareFeatureKeys(a, b);
  if (byKey !== 0) return byKey;
  return signA === signB ? 0 : signA === 'positive' ? -1 : 1;
}
