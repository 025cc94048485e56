import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseFeatureKey, type Logger, type Sign } from '@expgen/contract';
import { ExemplarLibrary } from '../exemplars/exemplar-library.js';
import { manifestPath, type DistributionRow } from '../exemplars/storage/index.js';
import { round } from './rounding.js';
import type { HistogramView } from './report-model.js';

/** Opens the exemplars (for the activation histograms); null, with a warning, when the folder has none. */
export function openLibrary(exemplarsDir: string, logger?: Logger): ExemplarLibrary | null {
  if (!existsSync(manifestPath(exemplarsDir))) {
    logger?.warn(
      `${join(exemplarsDir, 'exemplars')} holds no exemplars: the report shows no activation histograms (pass --exemplars DIR where stage 1 ran)`,
    );
    return null;
  }
  try {
    return ExemplarLibrary.open(exemplarsDir);
  } catch (error) {
    logger?.warn(`${(error as Error).message}: the report shows no activation histograms`);
    return null;
  }
}

export async function distributionRows(
  library: ExemplarLibrary,
  key: string,
): Promise<{ split: string; row: DistributionRow }[]> {
  const k = parseFeatureKey(key);
  if (!library.manifest.layers.some((l) => l.space === k.space && l.layer === k.layer && k.index < l.features))
    return [];
  const out: { split: string; row: DistributionRow }[] = [];
  for (const split of library.splits) {
    try {
      const row = await library.distribution(k, split);
      if (row) out.push({ split, row });
    } catch {
      // A split without a distribution file (a partial copy of the run): the histogram uses the others.
    }
  }
  return out;
}

const FINE_BINS = 40;

/**
 * The distribution of per-sequence extremes in the sign's direction over every split: exact (from the kept
 * extremes, 40 bins over their range) when every sequence's extreme was kept, else the stored histogram cropped
 * to the bins that hold anything.
 */
export function histogramView(
  rows: readonly { split: string; row: DistributionRow }[],
  sign: Sign,
): HistogramView | null {
  if (rows.length === 0) return null;
  const what = sign === 'positive' ? 'per-sequence maxima' : 'per-sequence minima';
  const splits = rows.map((r) => r.split).join(', ');
  const complete = rows.every(
    ({ row }) =>
      row.sequencesSeen !== null &&
      (sign === 'positive' ? row.maxExtremes : row.minExtremes).length >= row.sequencesSeen,
  );
  if (complete) {
    const values = rows
      .flatMap(({ row }) => Array.from(sign === 'positive' ? row.maxExtremes : row.minExtremes))
      .filter(Number.isFinite);
    if (values.length === 0) return null;
    let low = values.reduce((a, b) => Math.min(a, b));
    let high = values.reduce((a, b) => Math.max(a, b));
    if (high === low) {
      low -= 0.5;
      high += 0.5;
    }
    const counts = new Array<number>(FINE_BINS).fill(0);
    for (const v of values) counts[Math.min(FINE_BINS - 1, Math.floor(((v - low) / (high - low)) * FINE_BINS))]!++;
    return {
      label: `${what}, ${values.length} sequences (${splits})`,
      low: round(low)!,
      high: round(high)!,
      counts,
      below: 0,
      above: 0,
    };
  }
  const histograms = rows.map(({ row }) => row.histogram).filter((h) => h !== null);
  const first = histograms[0];
  if (!first) return null;
  const same = histograms.filter(
    (h) => h.low === first.low && h.high === first.high && h.max.length === first.max.length,
  );
  const sum = new Array<number>(first.max.length).fill(0);
  for (const h of same)
    (sign === 'positive' ? h.max : h.min).forEach((c, i) => {
      sum[i]! += c;
    });
  const bins = sum.length - 2;
  const inner = sum.slice(1, bins + 1);
  let from = inner.findIndex((c) => c > 0);
  let to = inner.length - 1 - [...inner].reverse().findIndex((c) => c > 0);
  if (from < 0) {
    from = 0;
    to = bins - 1;
  }
  const width = (first.high - first.low) / bins;
  const total = sum.reduce((a, b) => a + b, 0);
  return {
    label: `${what}, ${total} sequences (${same.length === rows.length ? splits : `${same.length} of ${rows.length} splits`})`,
    low: round(first.low + from * width)!,
    high: round(first.low + (to + 1) * width)!,
    counts: inner.slice(from, to + 1),
    below: sum[0]! + inner.slice(0, from).reduce((a, b) => a + b, 0),
    above: sum[bins + 1]! + inner.slice(to + 1).reduce((a, b) => a + b, 0),
  };
}
