import { COST_KEYS, type RunCost } from './stage-cost.js';

const LABELS: Record<(typeof COST_KEYS)[number], string> = {
  feature_signs: 'feature-signs',
  explainer_requests: 'explainer requests',
  prompt_tokens: 'prompt tokens',
  cached_prompt_tokens: '  of which cached',
  completion_tokens: 'completion tokens',
  cached_calls: 'calls answered by the cache',
  simulator_tokens: 'simulator tokens',
  simulator_tokens_naive: 'simulator tokens, naive method',
  host_seconds: 'host seconds',
};

const number = (key: string, v: number) =>
  key === 'host_seconds' ? v.toFixed(1) : Math.round(v).toLocaleString('en-US');

/** The cost table the stage commands print under their summary: one row per cost key, one column per stage. */
export function formatCost(cost: RunCost, title = 'cost'): string {
  const header = [title, 'describe', 'score', 'total'];
  const rows = COST_KEYS.map((k) => [
    LABELS[k],
    number(k, cost.describe[k]),
    number(k, cost.score[k]),
    number(k, cost.total[k]),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) =>
    `  ${cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')}`;
  return [line(header), ...rows.map(line)].join('\n');
}
