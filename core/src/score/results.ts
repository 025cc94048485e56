import { join } from 'node:path';
import { compareFeatureKeys, parseFeatureKey, type FeatureKey, type Provenance, type Sign } from '@expgen/contract';
import { summarizeScores, writeFileAtomic } from '@expgen/plugin-kit';
import type { ExpgenConfig } from '../config/config-schema.js';
import { recordsToArrow, type RecordColumn } from '../engine/records-arrow.js';

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
];

export interface RunSummary {
  readonly features: number;
  readonly scored: number;
  readonly failed: number;
  readonly skipped: number;
  readonly meanScore: number | null;
  readonly meanScoreCi: readonly [number, number] | null;
  readonly nullBaseline: number | null;
  readonly nullBaselineCi: readonly [number, number] | null;
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
  };
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
  writeFileAtomic(join(outDir, 'results.arrow'), recordsToArrow(RESULT_COLUMNS, ordered));
}

/** Result order: feature key, then the positive sign before the negative. */
export function compareRows(a: FeatureKey, signA: Sign, b: FeatureKey, signB: Sign): number {
  const byKey = compareFeatureKeys(a, b);
  if (byKey !== 0) return byKey;
  return signA === signB ? 0 : signA === 'positive' ? -1 : 1;
}
