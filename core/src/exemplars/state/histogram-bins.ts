import { ExpgenError } from '@expgen/contract';
import { checkCount } from './checks.js';

/** Uniform histogram bins over [low, high), plus an underflow and an overflow bin. */
export interface HistogramBins {
  readonly low: number;
  readonly high: number;
  readonly bins: number;
}

/**
 * The bin edges (bins + 1 of them). A value v goes to bin i (0-based, after the underflow bin) when
 * floor((v - low) * bins / (high - low)) = i, computed in float64; below 0 it underflows, from `bins` on it
 * overflows. That rule, not the printed edges, is exact.
 */
export function binEdges(bins: HistogramBins): Float64Array {
  const { low, high } = bins;
  const edges = new Float64Array(bins.bins + 1);
  for (let i = 0; i <= bins.bins; i++) edges[i] = low + ((high - low) * i) / bins.bins;
  return edges;
}

/**
 * Adds features [from, to) of [rows, features] values to their histogram rows ([features, bins + 2]: underflow,
 * bins, overflow); `skip` marks a row with no counted position.
 */
export function countBins(
  bins: HistogramBins,
  values: Float32Array,
  rows: number,
  features: number,
  histogram: Float64Array,
  from: number,
  to: number,
  skip: number,
): void {
  const { low } = bins;
  const scale = bins.bins / (bins.high - low);
  const width = bins.bins + 2;
  const overflow = bins.bins + 1;
  // Feature-outer order: one feature's histogram row stays in cache for all the batch's rows.
  for (let f = from, bin0 = from * width; f < to; f++, bin0 += width) {
    for (let at = f, row = 0; row < rows; row++, at += features) {
      const value = values[at]!;
      if (value === skip) continue;
      const x = (value - low) * scale;
      histogram[bin0 + (x >= 0 ? (x < bins.bins ? (x | 0) + 1 : overflow) : 0)]!++;
    }
  }
}

/** Checks histogram options, naming `state` in the message. */
export function checkBins(state: string, histogram: HistogramBins | undefined): HistogramBins {
  if (!histogram || typeof histogram !== 'object')
    throw new ExpgenError(`${state}: option "histogram" must be { low, high, bins }`);
  const { low, high, bins } = histogram;
  checkCount(state, 'histogram.bins', bins);
  if (!(Number.isFinite(low) && Number.isFinite(high) && low < high)) {
    throw new ExpgenError(
      `${state}: option "histogram" needs finite low < high, got low ${String(low)}, high ${String(high)}`,
    );
  }
  return { low, high, bins };
}

export function sameBins(a: HistogramBins, b: HistogramBins): boolean {
  return a.low === b.low && a.high === b.high && a.bins === b.bins;
}
