import { type Sign, ExpgenError } from '@expgen/contract';
import { allocate, checkCount } from './checks.js';
import { corruptCheckpoint, decodeState, encodeState, integerParam } from './state-codec.js';

/** Uniform histogram bins over [low, high), plus an underflow and an overflow bin. */
export interface HistogramBins {
  readonly low: number;
  readonly high: number;
  readonly bins: number;
}

export interface ActivationDistributionOptions {
  readonly features: number;
  /** M: how many of the largest maxima (and smallest minima) to keep per feature (10,000 in the reference). */
  readonly keep: number;
  readonly histogram: HistogramBins;
}

/** Per-sequence extremes of one batch. */
export interface ExtremesBatch {
  /** [rows, features] per-sequence maximum. */
  readonly max: Float32Array;
  /** [rows, features] per-sequence minimum. */
  readonly min: Float32Array;
  /** Tokens the extremes were taken over in this batch (counted positions of all rows): the quantiles' N. */
  readonly tokens: number;
}

/** The tail quantiles the reference keeps (mirrored: 1 - q for the positive sign in its own terms). */
export const TAIL_FRACTIONS: readonly number[] = [1e-4, 1e-5, 1e-6, 1e-7, 1e-8];

const KIND = 'activation-distribution';
const NAME = 'ActivationDistribution';

/**
 * Rearranges a[from .. to) so that a[at] holds the value it would hold if the range were sorted descending, with
 * everything before it >= it and everything after it <= it (quickselect, Hoare partition, median-of-three pivot;
 * deterministic, so a checkpoint restored and continued matches an uninterrupted run byte for byte). After too many
 * rounds, as on adversarial input, it sorts the rest instead, which bounds the work at O(n log n).
 */
export function selectDescending(a: Float32Array, from: number, to: number, at: number): void {
  let low = from;
  let high = to - 1;
  let rounds = 2 * Math.ceil(Math.log2(to - from + 1)) + 4;
  while (high > low) {
    if (high - low < 24 || rounds-- === 0) {
      const sorted = a
        .subarray(low, high + 1)
        .sort()
        .reverse();
      a.set(sorted, low);
      return;
    }
    const middle = (low + high) >>> 1;
    // Order a[low] >= a[middle] >= a[high], so the pivot is the median of three and both scans stop in range.
    if (a[middle]! > a[low]!) swap(a, middle, low);
    if (a[high]! > a[low]!) swap(a, high, low);
    if (a[high]! > a[middle]!) swap(a, high, middle);
    const pivot = a[middle]!;
    let i = low;
    let j = high;
    while (i <= j) {
      while (a[i]! > pivot) i++;
      while (a[j]! < pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    // Now a[low .. j] >= pivot, a[i .. high] <= pivot, and anything between equals the pivot.
    if (at <= j) high = j;
    else if (at >= i) low = i;
    else return;
  }
}

function swap(a: Float32Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

/**
 * The largest M keys of each feature, kept with the "threshold + batch select" method: each feature has room for
 * M + P keys (P = M / 8, at least 16); a key enters iff it is greater than the feature's threshold and is simply
 * appended; when the room is full, a selection keeps the M largest and the threshold becomes the M-th largest.
 * An insertion thus costs an append plus a share of one O(M + P) selection per P insertions (about 50 ns at
 * M = 10,000 on a 2-core EPYC), instead of a heap operation whose O(log M) steps each miss cache in an M-sized
 * array (about 300 ns there). P = M / 8 trades 12.5% more memory for that; M / 4 was about 30% faster still.
 *
 * Keys are the maxima for the positive sign and the negated minima for the negative sign (negation is exact), so
 * one code path serves both. Keys equal to the threshold are not kept: the M kept already include M keys >= it, so
 * the multiset of the M largest is the same either way.
 */
class ExtremeBuffers {
  /** Room per feature: M + P. */
  readonly room: number;
  readonly keys: Float32Array;
  /** Keys held per feature, <= room; the M largest of them are the feature's kept extremes. */
  readonly counts: Int32Array;
  /** A key enters iff it is strictly greater: -Infinity until the first selection, then the M-th largest key. */
  readonly thresholds: Float32Array;

  constructor(
    readonly features: number,
    readonly keep: number,
    arrays?: { keys: Float32Array; counts: Int32Array; thresholds: Float32Array },
  ) {
    this.room = ExtremeBuffers.roomFor(keep);
    this.keys = arrays?.keys ?? allocate(NAME, 'kept extremes', features * this.room, (n) => new Float32Array(n));
    this.counts = arrays?.counts ?? new Int32Array(features);
    this.thresholds = arrays?.thresholds ?? new Float32Array(features).fill(-Infinity);
  }

  static roomFor(keep: number): number {
    return keep + Math.max(16, Math.ceil(keep / 8));
  }

  /** Keeps only feature f's M largest keys and raises its threshold to the M-th largest. */
  select(f: number): void {
    const base = f * this.room;
    selectDescending(this.keys, base, base + this.counts[f]!, base + this.keep - 1);
    this.counts[f] = this.keep;
    this.thresholds[f] = this.keys[base + this.keep - 1]!;
  }

  /** Appends `key`, which the caller checked is above the threshold, selecting when the room is full. */
  add(f: number, key: number): void {
    const count = this.counts[f]!;
    this.keys[f * this.room + count] = key;
    this.counts[f] = count + 1;
    if (count + 1 === this.room) this.select(f);
  }

  /** How many extremes feature f has: min(M, keys held). */
  kept(f: number): number {
    return Math.min(this.keep, this.counts[f]!);
  }

  /** Feature f's M largest keys, largest first. */
  sortedKeys(f: number): Float32Array {
    const base = f * this.room;
    const keys = this.keys.slice(base, base + this.counts[f]!);
    keys.sort();
    keys.reverse();
    return keys.slice(0, this.keep);
  }
}

/**
 * Per feature: the M largest per-sequence maxima and the M smallest per-sequence minima, fixed-bin histograms of
 * all per-sequence maxima and minima, and the tokens and sequences seen, from which `tailQuantile` estimates the
 * activation that a fraction q of tokens exceed (the reference's highlight thresholds).
 *
 * Exact and mergeable: the kept extremes are a multiset (no ids, so ties cannot matter), the histogram bin of a
 * value depends only on the value and the bin options, and counts add. Sharded and merged, the state has the same
 * content as one stream; only the buffers' internal order may differ, which `sortedExtremes` does not show.
 *
 * Offering is the host's hot path (B x F values per sign per batch, for every layer), so it is one pass per sign:
 * a bin increment and one comparison against the feature's threshold; only values beyond it are appended (see
 * ExtremeBuffers), and over N sequences about M (1 + ln(N / M)) values per feature ever are.
 *
 * Memory per feature: 2 x (M + M/8) x 4 bytes of extremes + 2 x (bins + 2) x 8 bytes of counts (M = 10,000 and
 * 64 bins: 91 KB, so 1.3 GB for the 14,336 neurons of one Llama-3.1-8B layer).
 */
export class ActivationDistribution {
  readonly features: number;
  readonly keep: number;
  readonly bins: HistogramBins;
  private readonly maxima: ExtremeBuffers;
  private readonly negatedMinima: ExtremeBuffers;
  /** [features, bins + 2]: underflow, bins, overflow. */
  private readonly maxHistogram: Float64Array;
  private readonly minHistogram: Float64Array;
  private tokens = 0;
  private sequences = 0;

  constructor(
    options: ActivationDistributionOptions,
    restored?: {
      maxima: ExtremeBuffers;
      negatedMinima: ExtremeBuffers;
      maxHistogram: Float64Array;
      minHistogram: Float64Array;
      tokens: number;
      sequences: number;
    },
  ) {
    this.features = checkCount(NAME, 'features', options.features);
    this.keep = checkCount(NAME, 'keep', options.keep);
    this.bins = checkBins(options.histogram);
    const width = this.bins.bins + 2;
    this.maxima = restored?.maxima ?? new ExtremeBuffers(this.features, this.keep);
    this.negatedMinima = restored?.negatedMinima ?? new ExtremeBuffers(this.features, this.keep);
    this.maxHistogram =
      restored?.maxHistogram ?? allocate(NAME, 'histogram', this.features * width, (n) => new Float64Array(n));
    this.minHistogram =
      restored?.minHistogram ?? allocate(NAME, 'histogram', this.features * width, (n) => new Float64Array(n));
    this.tokens = restored?.tokens ?? 0;
    this.sequences = restored?.sequences ?? 0;
  }

  /** Tokens the offered extremes were taken over: N in the quantile estimate. */
  get tokensSeen(): number {
    return this.tokens;
  }

  /** Rows offered. */
  get sequencesSeen(): number {
    return this.sequences;
  }

  /**
   * Takes one batch of per-sequence extremes. A maximum of -Infinity (minimum of +Infinity) means the row had no
   * counted position for the feature and is skipped. Throws, leaving the state unchanged, on a NaN extreme.
   */
  offer(batch: ExtremesBatch): void {
    const { features } = this;
    const { max, min, tokens } = batch;
    const rows = max.length / features;
    if (!Number.isInteger(rows) || min.length !== max.length) {
      throw new Error(
        `${NAME}: max/min have ${max.length}/${min.length} values, expected the same whole number of rows of ${features} features`,
      );
    }
    if (!Number.isSafeInteger(tokens) || tokens < 0)
      throw new Error(`${NAME}: tokens must be a non-negative integer, got ${tokens}`);
    checkNoNaN(max, features, 'max');
    checkNoNaN(min, features, 'min');
    this.take(max, rows, this.maxima, this.maxHistogram, 1);
    this.take(min, rows, this.negatedMinima, this.minHistogram, -1);
    this.tokens += tokens;
    this.sequences += rows;
  }

  /** One sign's pass: histogram of the raw values, admission of the keys (value x direction). */
  private take(
    values: Float32Array,
    rows: number,
    buffers: ExtremeBuffers,
    histogram: Float64Array,
    direction: 1 | -1,
  ): void {
    const { features } = this;
    const { low, bins } = this.bins;
    const scale = bins / (this.bins.high - low);
    const width = bins + 2;
    const overflow = bins + 1;
    const skip = -Infinity * direction;
    const { thresholds, keys, counts, room } = buffers;
    // Feature-outer order: one feature's histogram row and key buffer stay in cache for all the batch's rows
    // (row-outer order touched a different histogram row on every value: a cache miss each). The strided reads of
    // the input share cache lines with the next features' reads, so the input still comes from memory once.
    for (let f = 0, bin0 = 0; f < features; f++, bin0 += width) {
      let threshold = thresholds[f]!;
      for (let at = f, row = 0; row < rows; row++, at += features) {
        const value = values[at]!;
        if (value === skip) continue;
        const x = (value - low) * scale;
        histogram[bin0 + (x >= 0 ? (x < bins ? (x | 0) + 1 : overflow) : 0)]!++;
        const key = value * direction;
        if (key > threshold) {
          const count = counts[f]!;
          keys[f * room + count] = key;
          counts[f] = count + 1;
          if (count + 1 === room) {
            buffers.select(f);
            threshold = thresholds[f]!;
          }
        }
      }
    }
  }

  /** How many extremes feature f holds for `sign` (min(M, sequences with a counted position)). */
  kept(feature: number, sign: Sign): number {
    return this.buffers(sign).kept(this.checkFeature(feature));
  }

  /** Feature f's kept extremes, most extreme first: maxima descending (positive), minima ascending (negative). */
  sortedExtremes(feature: number, sign: Sign): Float32Array {
    const keys = this.buffers(sign).sortedKeys(this.checkFeature(feature));
    if (sign === 'negative') for (let i = 0; i < keys.length; i++) keys[i] = -keys[i]!;
    return keys;
  }

  /** Feature f's histogram of per-sequence maxima (positive) or minima (negative): [underflow, ...bins, overflow]. */
  histogram(feature: number, sign: Sign): Float64Array {
    const f = this.checkFeature(feature);
    const width = this.bins.bins + 2;
    return (sign === 'positive' ? this.maxHistogram : this.minHistogram).slice(f * width, (f + 1) * width);
  }

  /**
   * The bin edges (bins + 1 of them). A value v goes to bin i (0-based, after the underflow bin) when
   * floor((v - low) * bins / (high - low)) = i, computed in float64; below 0 it underflows, from `bins` on it
   * overflows. That rule, not the printed edges, is exact.
   */
  binEdges(): Float64Array {
    const { low, high, bins } = this.bins;
    const edges = new Float64Array(bins + 1);
    for (let i = 0; i <= bins; i++) edges[i] = low + ((high - low) * i) / bins;
    return edges;
  }

  /**
   * The reference's tail-quantile estimate from the kept extremes, for a fraction q (1e-4 ... 1e-8) of the N
   * tokens seen, or null when the kept extremes do not reach rank r = q x N (or nothing was seen).
   *
   * It treats the kept per-sequence extremes as the most extreme token values (a sequence rarely holds two of the
   * top tokens) and interpolates linearly in rank, exactly as the reference's `approximate_quantile` does with the
   * empirical CDF P(X <= v):
   *   positive: the value that a fraction q of tokens exceed, at fractional position r in the maxima sorted
   *             descending (position 0 = the largest, which no token exceeds); defined for 0 <= r <= n - 1;
   *   negative: the value at or below which a fraction q of tokens lie, at fractional position r - 1 in the minima
   *             sorted ascending (the smallest has 1/N at or below it); defined for 1 <= r <= n.
   * n is the number kept (M once the stream is long). The reference computes the same through 1 - q and
   * cumulative probabilities; the results differ only by float rounding.
   */
  tailQuantile(feature: number, q: number, sign: Sign): number | null {
    if (!(q > 0 && q < 1)) throw new Error(`${NAME}: tail fraction q must be in (0, 1), got ${q}`);
    const n = this.kept(feature, sign);
    if (n === 0 || this.tokens === 0) return null;
    const rank = q * this.tokens;
    const position = sign === 'positive' ? rank : rank - 1;
    if (position < 0 || position > n - 1) return null;
    const sorted = this.sortedExtremes(feature, sign);
    const below = Math.floor(position);
    if (below >= n - 1) return sorted[n - 1]!;
    return sorted[below]! + (position - below) * (sorted[below + 1]! - sorted[below]!);
  }

  /**
   * Adds another shard's distribution (same options): afterwards this state has exactly the content of one stream
   * over both. `other` is not changed.
   */
  merge(other: ActivationDistribution): void {
    if (other === this) throw new Error(`${NAME}: cannot merge a state with itself`);
    if (other.features !== this.features || other.keep !== this.keep || !sameBins(other.bins, this.bins)) {
      throw new Error(
        `${NAME}: cannot merge a distribution of ${other.features} features, keep ${other.keep}, bins ${JSON.stringify(other.bins)} into one of ${this.features}, ${this.keep}, ${JSON.stringify(this.bins)}`,
      );
    }
    for (const [mine, theirs] of [
      [this.maxima, other.maxima],
      [this.negatedMinima, other.negatedMinima],
    ] as const) {
      for (let f = 0; f < this.features; f++) {
        // Their held keys are their M largest plus candidates: offering all of them keeps the union's M largest.
        const base = f * theirs.room;
        for (let i = 0; i < theirs.counts[f]!; i++) {
          const key = theirs.keys[base + i]!;
          if (key > mine.thresholds[f]!) mine.add(f, key);
        }
      }
    }
    for (let i = 0; i < this.maxHistogram.length; i++) {
      this.maxHistogram[i]! += other.maxHistogram[i]!;
      this.minHistogram[i]! += other.minHistogram[i]!;
    }
    this.tokens += other.tokens;
    this.sequences += other.sequences;
  }

  /** Checkpoint chunks (views of live memory: write them before the state changes). */
  toBuffers(): Uint8Array[] {
    return encodeState(
      KIND,
      {
        features: this.features,
        keep: this.keep,
        histogram: { ...this.bins },
        tokensSeen: this.tokens,
        sequencesSeen: this.sequences,
      },
      {
        'maxima.keys': this.maxima.keys,
        'maxima.counts': this.maxima.counts,
        'maxima.thresholds': this.maxima.thresholds,
        'negatedMinima.keys': this.negatedMinima.keys,
        'negatedMinima.counts': this.negatedMinima.counts,
        'negatedMinima.thresholds': this.negatedMinima.thresholds,
        maxHistogram: this.maxHistogram,
        minHistogram: this.minHistogram,
      },
    );
  }

  /** Restores a state from `toBuffers()` output (one buffer or the chunks). */
  static fromBuffers(input: Uint8Array | readonly Uint8Array[]): ActivationDistribution {
    const state = decodeState(input, KIND);
    const features = integerParam(state, KIND, 'features', 1);
    const keep = integerParam(state, KIND, 'keep', 1);
    const histogram = state.params['histogram'] as HistogramBins;
    let bins: HistogramBins;
    try {
      bins = checkBins(histogram);
    } catch (error) {
      throw corruptCheckpoint(KIND, (error as Error).message);
    }
    const width = bins.bins + 2;
    const room = ExtremeBuffers.roomFor(keep);
    const buffers = (name: string): ExtremeBuffers => {
      const restored = new ExtremeBuffers(features, keep, {
        keys: state.take(`${name}.keys`, 'f32', features * room),
        counts: state.take(`${name}.counts`, 'i32', features),
        thresholds: state.take(`${name}.thresholds`, 'f32', features),
      });
      checkBuffers(restored, name);
      return restored;
    };
    return new ActivationDistribution(
      { features, keep, histogram: bins },
      {
        maxima: buffers('maxima'),
        negatedMinima: buffers('negatedMinima'),
        maxHistogram: state.take('maxHistogram', 'f64', features * width),
        minHistogram: state.take('minHistogram', 'f64', features * width),
        tokens: integerParam(state, KIND, 'tokensSeen'),
        sequences: integerParam(state, KIND, 'sequencesSeen'),
      },
    );
  }

  private buffers(sign: Sign): ExtremeBuffers {
    if (sign === 'positive') return this.maxima;
    if (sign === 'negative') return this.negatedMinima;
    throw new Error(`${NAME}: sign must be "positive" or "negative", got ${String(sign)}`);
  }

  private checkFeature(feature: number): number {
    if (!Number.isInteger(feature) || feature < 0 || feature >= this.features)
      throw new Error(`${NAME}: feature ${feature} is outside [0, ${this.features})`);
    return feature;
  }
}

function checkBins(histogram: HistogramBins | undefined): HistogramBins {
  if (!histogram || typeof histogram !== 'object')
    throw new ExpgenError(`${NAME}: option "histogram" must be { low, high, bins }`);
  const { low, high, bins } = histogram;
  checkCount(NAME, 'histogram.bins', bins);
  if (!(Number.isFinite(low) && Number.isFinite(high) && low < high)) {
    throw new ExpgenError(
      `${NAME}: option "histogram" needs finite low < high, got low ${String(low)}, high ${String(high)}`,
    );
  }
  return { low, high, bins };
}

function sameBins(a: HistogramBins, b: HistogramBins): boolean {
  return a.low === b.low && a.high === b.high && a.bins === b.bins;
}

/** A NaN extreme means broken numerics in the subject; reject the batch before any of it is counted. */
function checkNoNaN(values: Float32Array, features: number, what: string): void {
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    if (Number.isNaN(value)) {
      throw new ExpgenError(
        `${NAME}: the subject returned NaN as the per-sequence ${what} of feature ${i % features} (row ${Math.floor(i / features)}); check the model's numerics (fp16 overflow?)`,
      );
    }
  }
}

/** Rejects restored buffers that break the admission rule (a damaged checkpoint would otherwise merge wrongly). */
function checkBuffers(buffers: ExtremeBuffers, name: string): void {
  for (let f = 0; f < buffers.features; f++) {
    const count = buffers.counts[f]!;
    if (count < 0 || count >= buffers.room) throw corruptCheckpoint(KIND, `${name} count of feature ${f} is ${count}`);
    const threshold = buffers.thresholds[f]!;
    if (threshold !== -Infinity && count < buffers.keep)
      throw corruptCheckpoint(KIND, `${name} of feature ${f} holds ${count} keys after a selection`);
    const base = f * buffers.room;
    for (let i = 0; i < count; i++) {
      if (!(buffers.keys[base + i]! >= threshold))
        throw corruptCheckpoint(KIND, `${name} of feature ${f} holds a key below its threshold`);
    }
  }
}
