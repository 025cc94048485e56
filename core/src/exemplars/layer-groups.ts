import { ExpgenError, type LayerPlan, type Logger } from '@expgen/contract';
import type { ExpgenConfig } from '../config/config-schema.js';
import type { FeatureSelection } from '../engine/feature-selection.js';

/** Bytes one layer's state needs over all splits, from the state layouts (flat typed arrays). */
export function layerStateBytes(
  width: number,
  settings: Pick<ExpgenConfig['exemplars'], 'topK' | 'seqLen' | 'randomPerFeature' | 'extremesKept' | 'histogramBins'>,
  splits: number,
): number {
  const topK = 2 * width * settings.topK * (settings.seqLen * 4 + 4 + 8 + 4);
  const random = settings.randomPerFeature * settings.seqLen * width * 4;
  const distribution = 2 * width * settings.extremesKept * 4 + 2 * width * (settings.histogramBins + 2) * 8;
  // Sequences are stored once per split, at most one per list entry.
  const sequences = (2 * width * settings.topK + settings.randomPerFeature) * settings.seqLen * 4;
  return splits * (topK + random + distribution + Math.min(sequences, topK));
}

/**
 * Splits the layers into groups that fit the memory budget; one corpus pass per group. A layer's state is sized by
 * the features selected in it (all of them, or the few `--features` names).
 */
export function groupLayers(
  plans: readonly LayerPlan[],
  selection: FeatureSelection,
  settings: ExpgenConfig['exemplars'],
  splits: number,
  logger: Logger,
): number[][] {
  const layers = plans.map((p) => p.layer);
  const bytes = plans.map((p) => {
    const chosen = selection.get(p.layer);
    return layerStateBytes(chosen === undefined || chosen === 'all' ? p.width : chosen.length, settings, splits);
  });
  const total = bytes.reduce((a, b) => a + b, 0);
  if (settings.memoryBudgetGB === null) {
    logger.info(
      `exemplar state: ${formatBytes(total)} for ${layers.length} layer(s), one pass (set exemplars.memoryBudgetGB to split passes)`,
    );
    return [layers];
  }
  const budget = settings.memoryBudgetGB * 1e9;
  const groups: number[][] = [];
  let current: number[] = [];
  let used = 0;
  plans.forEach((plan, i) => {
    if (bytes[i]! > budget) {
      throw new ExpgenError(
        `exemplars.memoryBudgetGB: layer ${plan.layer} alone needs ${formatBytes(bytes[i]!)} of state, over the budget of ${formatBytes(budget)}: raise the budget or lower topK, extremesKept or randomPerFeature`,
      );
    }
    if (used + bytes[i]! > budget && current.length) {
      groups.push(current);
      current = [];
      used = 0;
    }
    current.push(plan.layer);
    used += bytes[i]!;
  });
  if (current.length) groups.push(current);
  logger.info(
    `exemplar state: ${formatBytes(total)} for ${layers.length} layer(s); budget ${formatBytes(budget)} -> ${groups.length} pass(es) over the corpus: ${groups.map((g) => `[${g.join(', ')}]`).join(' ')}`,
  );
  return groups;
}

export function formatBytes(bytes: number): string {
  return bytes >= 1e9
    ? `${(bytes / 1e9).toFixed(2)} GB`
    : bytes >= 1e6
      ? `${(bytes / 1e6).toFixed(1)} MB`
      : `${(bytes / 1e3).toFixed(1)} kB`;
}
