import { formatCost } from './format-cost.js';
import type { RunEstimate } from './estimate-run.js';

const hours = (h: number) => (h >= 100 ? Math.round(h).toLocaleString('en-US') : h.toFixed(h >= 1 ? 1 : 2));

/** What `--dry-run` prints without `--json`: the cost table as estimates, GPU-hours, money and every assumption. */
export function formatEstimate(estimate: RunEstimate): string {
  const { gpu_hours: gpu, money, basis } = estimate;
  const lines = [
    `dry run: ${Number(basis['feature_signs']).toLocaleString('en-US')} feature-signs of ${basis['subject']} (${basis['layers']} layers x ${Number(basis['features_per_layer']).toLocaleString('en-US')} features); nothing was loaded, sent or written`,
    formatCost(estimate.cost, 'estimate'),
    `  GPU-hours on one ${basis['gpu']}: stage 1 ${hours(gpu.exemplars)}, stage 2 ${hours(gpu.describe)}, stage 3 ${hours(gpu.score)}, total ${hours(gpu.total)}`,
  ];
  if (money)
    lines.push(
      `  ${money.currency} for hosted APIs: stage 2 ${money.describe.toFixed(2)}, stage 3 ${money.score.toFixed(2)}, total ${money.total.toFixed(2)}`,
    );
  lines.push('  assumed:', ...estimate.assumed.map((a) => `    - ${a}`));
  return lines.join('\n');
}
