import type { RunSummary, ScorerSummary } from './results.js';

const number = (v: number | null) => (v === null ? 'n/a' : v.toFixed(3));
const interval = (ci: readonly [number, number] | null) => (ci ? `[${ci[0].toFixed(3)}, ${ci[1].toFixed(3)}]` : 'n/a');
const count = (n: number) => n.toLocaleString('en-US');

/** The table `expgen run` and `expgen score` print at the end; `extra` rows (the planted-truth line) go last. */
export function formatSummary(summary: RunSummary, extra: readonly [string, string][] = []): string {
  const rows: [string, string][] = [
    ['feature-signs', String(summary.features)],
    ['scored', String(summary.scored)],
    ['failed', String(summary.failed)],
    ['skipped (sign never reached)', String(summary.skipped)],
    ['mean score, test split (95% CI)', `${number(summary.meanScore)} ${interval(summary.meanScoreCi)}`],
    [
      'null baseline: shuffled descriptions (95% CI)',
      `${number(summary.nullBaseline)} ${interval(summary.nullBaselineCi)}`,
    ],
    ...scorerRows(summary),
    ...extra,
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

/**
 * Two rows per reported scorer (its mean on the test split and its null baseline, each with the interval over
 * feature-signs, and the judgments they rest on), unless the only one reported is the headline's own scorer.
 */
function scorerRows(summary: RunSummary): [string, string][] {
  const entries = Object.entries(summary.scores ?? {});
  const onlyHeadline =
    entries.length === 1 &&
    entries[0]![1].mean === summary.meanScore &&
    entries[0]![1].null_mean === summary.nullBaseline;
  if (entries.length === 0 || onlyHeadline) return [];
  return entries.flatMap(([name, s]: [string, ScorerSummary]): [string, string][] => [
    [
      `${name}: mean, test split (95% CI)`,
      `${number(s.mean)} ${interval(s.ci)} over ${count(s.rows)} feature-signs, ${count(s.judgments)} judgments${s.failures ? `, ${count(s.failures)} failed` : ''}`,
    ],
    [`${name}: null baseline (95% CI)`, `${number(s.null_mean)} ${interval(s.null_ci)} over ${count(s.null_rows)}`],
  ]);
}
