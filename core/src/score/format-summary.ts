import type { RunSummary } from './results.js';

const number = (v: number | null) => (v === null ? 'n/a' : v.toFixed(3));
const interval = (ci: readonly [number, number] | null) => (ci ? `[${ci[0].toFixed(3)}, ${ci[1].toFixed(3)}]` : 'n/a');

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
    ...extra,
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}
