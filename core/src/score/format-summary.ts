import { RESULT_STATUSES, STATUS_LABELS, type ResultStatus } from './result-states.js';
import type { RunSummary } from './results.js';

const number = (v: number | null) => (v === null ? 'n/a' : v.toFixed(3));
const interval = (ci: readonly [number, number] | null) => (ci ? `[${ci[0].toFixed(3)}, ${ci[1].toFixed(3)}]` : 'n/a');

/** What each status's count line adds to its label, so the table reads without the docs. */
const STATUS_HINTS: Readonly<Record<ResultStatus, string>> = {
  scored: '',
  no_test_score: ' (chosen, constant on the test split)',
  no_selection_score: ' (none chosen: constant on valid)',
  failed: ' (nothing to score)',
  skipped: ' (sign never reached)',
};

/**
 * The table `expgen run`, `expgen score` and `expgen merge` print at the end: every status's count, then each mean
 * with the rows it is taken over; `extra` rows (the planted-truth line) go last.
 */
export function formatSummary(summary: RunSummary, extra: readonly [string, string][] = []): string {
  const rows: [string, string][] = [
    ['feature-signs', String(summary.feature_signs)],
    ...RESULT_STATUSES.map((s): [string, string] => [
      `${STATUS_LABELS[s]}${STATUS_HINTS[s]}`,
      String(summary.states[s]),
    ]),
    [
      'mean score, test split (95% CI)',
      `${number(summary.mean_score)} ${interval(summary.mean_score_ci)} over ${summary.mean_score_rows} scored rows`,
    ],
    [
      'null baseline: shuffled descriptions (95% CI)',
      `${number(summary.null_baseline)} ${interval(summary.null_baseline_ci)} over ${summary.null_baseline_rows} scored rows with a null score`,
    ],
    ...extra,
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}
