import { formatFeatureKey, type FeatureKey, type Simulator } from '@expgen/contract';
import { derangement } from '@expgen/plugin-kit';
import type { ExpgenConfig } from '../config/config-schema.js';
import type { ResultRow } from './results.js';
import { simulateCounted } from './score-feature.js';
import type { ScoringSequenceReader } from './scoring-sequences.js';
import type { SetScorer } from './set-scorer.js';

export interface NullBaselineInput {
  readonly rows: readonly Omit<ResultRow, 'nullScore'>[];
  /** Feature key of each row. */
  readonly keys: readonly FeatureKey[];
  readonly reader: ScoringSequenceReader;
  readonly simulator: Simulator;
  readonly scorer: SetScorer;
  readonly settings: ExpgenConfig['score'];
}

/**
 * Each scored feature's test data simulated with another scored feature's chosen description (a seeded
 * derangement of the sign's features), so the summary shows what a description unrelated to the feature scores.
 * Returns the null score per row (null for rows not scored) and the tokens simulated, which the naive method
 * spends as well.
 */
export async function nullBaseline(input: NullBaselineInput): Promise<{ scores: (number | null)[]; tokens: number }> {
  const { rows, keys, settings } = input;
  const scores: (number | null)[] = rows.map(() => null);
  const counter = { tokens: 0 };
  const jobs: { row: number; description: string }[] = [];
  for (const sign of ['positive', 'negative'] as const) {
    const scoredRows = rows.flatMap((row, i) => (row.status === 'scored' && row.sign === sign ? [i] : []));
    if (scoredRows.length < 2) continue;
    const perm = derangement(scoredRows.length, settings.seed);
    for (const [j, i] of scoredRows.entries())
      jobs.push({ row: i, description: rows[scoredRows[perm[j]!]!]!.description! });
  }
  // In row order, so each feature's test rows are read once for both signs; one at a time, as the stage simulates.
  jobs.sort((a, b) => a.row - b.row);
  for (const job of jobs) {
    const row = rows[job.row]!;
    const key = keys[job.row]!;
    const report = await input.reader.read(key, row.sign, 'test', settings.report);
    const simulated = await simulateCounted(
      input.simulator,
      [job.description],
      report.rows,
      `${formatFeatureKey(key)} (${row.sign}), null baseline`,
      counter,
    );
    scores[job.row] = input.scorer.valueOfRows(
      row.sign,
      report.rows.map((r, s) => ({
        activations: r.activations,
        countFrom: r.countFrom,
        predicted: simulated.predictions[0]![s]!,
      })),
    );
  }
  return { scores, tokens: counter.tokens };
}
