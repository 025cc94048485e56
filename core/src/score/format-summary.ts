import { RESULT_STATUSES, STATUS_LABELS, type ResultStatus } from './result-states.js';
import type { RunSummary, ScorerSummary } from './results.js';

const number = (v: number | null) => (v === null ? 'n/a' : v.toFixed(3));
const interval = (ci: readonly [number, number] | null) => (ci ? `[${ci[0].toFixed(3)}, ${ci[1].toFixed(3)}]` : 'n/a');
const count = (n: number) => n.toLocaleString('en-US');

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
    ...scorerRows(summary),
    ...extra,
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

/**
 * The rows of each reported scorer: its mean on the test split and its null baseline, each with the interval over
 * feature-signs and the entries it is taken over, the judgments they rest on, and its entries per status when some
 * are not scored; none when the only one reported is the headline's own scorer.
 */
function scorerRows(summary: RunSummary): [string, string][] {
  const entries = Object.entries(summary.scores ?? {});
  const onlyHeadline =
    entries.length === 1 &&
    entries[0]![1].mean_score === summary.mean_score &&
    entries[0]![1].null_baseline === summary.null_baseline;
  if (entries.length === 0 || onlyHeadline) return [];
  return entries.flatMap(([name, s]: [string, ScorerSummary]): [string, string][] => {
    const unscored = RESULT_STATUSES.filter((status) => status !== 'scored' && s.states[status] > 0);
    return [
      [
        `${name}: mean, test split (95% CI)`,
        `${number(s.mean_score)} ${interval(s.mean_score_ci)} over ${count(s.mean_score_rows)} scored, ${count(s.judgments)} judgments${s.failures ? `, ${count(s.failures)} failed` : ''}`,
      ],
      [
        `${name}: null baseline (95% CI)`,
        `${number(s.null_baseline)} ${interval(s.null_baseline_ci)} over ${count(s.null_baseline_rows)} with a null score`,
      ],
      ...(unscored.length
        ? [
            [
              `${name}: not scored`,
              unscored.map((status) => `${STATUS_LABELS[status]} ${count(s.states[status])}`).join(', '),
            ] as [string, string],
          ]
        : []),
    ];
  });
}
