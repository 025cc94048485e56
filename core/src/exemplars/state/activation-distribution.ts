import type { Sign } from '../../contract/sign.js';
import { ExpgenError } from '../../contract/errors.js';
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
 * The largest M keys of each feature in a binary min-heap per feature (flat array, segment f*M .. f*M + M), so the
 * heap root is the admission threshold. Keys are the maxima for the positive sign and the negated minima for the
 * negative sign (negation is exact), so one code path serves both.
 */
class ExtremeHeaps {
  readonly heap: Float32Array;
  readonly counts: Int32Array;
  /** Root of each full heap, -Infinity while it is filling: a value enters iff it is strictly greater. */
  readonly thresholds: Float32Array;

  constructor(readonly features: number, readonly keep: number, arrays?: { heap: Float32Array; counts: Int32Array }) {
    this.heap = arrays?.heap ?? allocate(NAME, 'kept extremes', features * keep, (n) => new Float32Array(n));
    this.counts = arrays?.counts ?? new Int32Array(features);
    this.thresholds = new Float32Array(features).fill(-Infinity);
    for (let f = 0; f < features; f++) if (this.counts[f] === keep) this.thresholds[f] = this.heap[f * keep]!;
  }

  /**
   * Adds `key` to feature f. Callers test `key > thresholds[f]` first (the hot loop does it inline), so here the
   * key is known to enter: a push while the heap fills, else a replacement of the root. Equal keys are
   * interchangeable, so skipping a key equal to the root keeps the multiset exact.
   */
  add(f: number, key: number): void {
    const heap = this.heap;
    const keep = this.keep;
    const base = f * keep;
    const count = this.counts[f]!;
    if (count < keep) {
      // Sift up.
      let at = count;
      while (at > 0) {
        const parent = (at - 1) >> 1;
        const above = heap[base + parent]!;
        if (above <= key) break;
        heap[base + at] = above;
        at = parent;
      }
      heap[base + at] = key;
      this.counts[f] = count + 1;
      if (count + 1 === keep) this.thresholds[f] = heap[base]!;
      return;
    }
    // Replace the root and sift down.
    let at = 0;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= keep) break;
      let smaller = heap[base + child]!;
      if (child + 1 < keep) {
        const right = heap[base + child + 1]!;
        if (right < smaller) {
          smaller = right;
          child++;
        }
      }
      if (smaller >= key) break;
      heap[base + at] = smaller;
      at = child;
    }
    heap[base + at] = key;
    this.thresholds[f] = heap[base]!;
  }

  /** Feature f's kept keys, largest first. */
  sortedKeys(f: number): Float32Array {
    const keys = this.heap.slice(f * this.keep, f * this.keep + this.counts[f]!);
    keys.sort();
    return keys.reverse();
  }
}

/**
 * Per feature: the M largest per-sequence maxima and the M smallest per-sequence minima, fixed-bin histograms of
 * all per-sequence maxima and minima, and the tokens and sequences seen, from which `tailQuantile` estimates the
 * activation that a fraction q of tokens exceed (the reference's highlight thresholds).
 *
 * Exact and mergeable: the kept extremes are a multiset (no ids, so ties cannot matter), the histogram bin of a
 * value depends only on the value and the bin options, and counts add. Sharded and merged, the state has the same
 * content as one stream; only the heaps' internal layout may differ, which `sortedExtremes` does not show.
 *
 * Offering is the host's hot path (B x F values per sign per batch, for every layer), so it is one sequential pass
 * per sign: a bin increment and one comparison against the feature's threshold; only values beyond it touch the
 * heap (O(log M)), and over N sequences about M (1 + ln(N / M)) values per feature ever do.
 *
 * Memory per feature: 2 x M x 4 bytes of extremes + 2 x (bins + 2) x 8 bytes of counts (M = 10,000 and 64 bins:
 * 82 KB, so 1.2 GB for the 14,336 neurons of one Llama-3.1-8B layer).
 */
export class ActivationDistribution {
  readonly features: number;
  readonly keep: number;
  readonly bins: HistogramBins;
  private readonly maxima: ExtremeHeaps;
  private readonly negatedMinima: ExtremeHeaps;
  /** [features, bins + 2]: underflow, bins, overflow. */
  private readonly maxHistogram: Float64Array;
  private readonly minHistogram: Float64Array;
  private tokens = 0;
  private sequences = 0;

  constructor(
    options: ActivationDistributionOptions,
    restored?: { maxima: ExtremeHeaps; negatedMinima: ExtremeHeaps; maxHistogram: Float64Array; minHistogram: Float64Array; tokens: number; sequences: number },
  ) {
    this.features = checkCount(NAME, 'features', options.features);
    this.keep = checkCount(NAME, 'keep', options.keep);
    this.bins = checkBins(options.histogram);
    const width = this.bins.bins + 2;
    this.maxima = restored?.maxima ?? new ExtremeHeaps(this.features, this.keep);
    this.negatedMinima = restored?.negatedMinima ?? new ExtremeHeaps(this.features, this.keep);
    this.maxHistogram = restored?.maxHistogram ?? allocate(NAME, 'histogram', this.features * width, (n) => new Float64Array(n));
    this.minHistogram = restored?.minHistogram ?? allocate(NAME, 'histogram', this.features * width, (n) => new Float64Array(n));
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
      throw new Error(`${NAME}: max/min have ${max.length}/${min.length} values, expected the same whole number of rows of ${features} features`);
    }
    if (!Number.isSafeInteger(tokens) || tokens < 0) throw new Error(`${NAME}: tokens must be a non-negative integer, got ${tokens}`);
    checkNoNaN(max, features, 'max');
    checkNoNaN(min, features, 'min');
    this.take(max, rows, this.maxima, this.maxHistogram, 1);
    this.take(min, rows, this.negatedMinima, this.minHistogram, -1);
    this.tokens += tokens;
    this.sequences += rows;
  }

  /** One sign's pass: histogram of the raw values, heap admission of the keys (value x direction). */
  private take(values: Float32Array, rows: number, heaps: ExtremeHeaps, histogram: Float64Array, direction: 1 | -1): void {
    const { features } = this;
    const { low, bins } = this.bins;
    const scale = bins / (this.bins.high - low);
    const width = bins + 2;
    const overflow = bins + 1;
    const skip = -Infinity * direction;
    const thresholds = heaps.thresholds;
    for (let row = 0, at = 0; row < rows; row++) {
      for (let f = 0, bin0 = 0; f < features; f++, at++, bin0 += width) {
        const value = values[at]!;
        if (value === skip) continue;
        const x = (value - low) * scale;
        histogram[bin0 + (x >= 0 ? (x < bins ? (x | 0) + 1 : overflow) : 0)]!++;
        const key = value * direction;
        if (key > thresholds[f]!) heaps.add(f, key);
      }
    }
  }

  /** How many extremes feature f holds for `sign` (min(M, sequences with a counted position)). */
  kept(feature: number, sign: Sign): number {
    return this.heaps(sign).counts[this.checkFeature(feature)]!;
  }

  /** Feature f's kept extremes, most extreme first: maxima descending (positive), minima ascending (negative). */
  sortedExtremes(feature: number, sign: Sign): Float32Array {
    const keys = this.heaps(sign).sortedKeys(this.checkFeature(feature));
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
      throw new Error(`${NAME}: cannot merge a distribution of ${other.features} features, keep ${other.keep}, bins ${JSON.stringify(other.bins)} into one of ${this.features}, ${this.keep}, ${JSON.stringify(this.bins)}`);
    }
    for (const [mine, theirs] of [[this.maxima, other.maxima], [this.negatedMinima, other.negatedMinima]] as const) {
      for (let f = 0; f < this.features; f++) {
        const base = f * this.keep;
        for (let i = 0; i < theirs.counts[f]!; i++) {
          const key = theirs.heap[base + i]!;
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
      { features: this.features, keep: this.keep, histogram: { ...this.bins }, tokensSeen: this.tokens, sequencesSeen: this.sequences },
      {
        'maxima.heap': this.maxima.heap,
        'maxima.counts': this.maxima.counts,
        'negatedMinima.heap': this.negatedMinima.heap,
        'negatedMinima.counts': this.negatedMinima.counts,
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
    const heaps = (name: string): ExtremeHeaps => {
      const restored = new ExtremeHeaps(features, keep, { heap: state.take(`${name}.heap`, 'f32', features * keep), counts: state.take(`${name}.counts`, 'i32', features) });
      checkHeaps(restored, name);
      return restored;
    };
    return new ActivationDistribution(
      { features, keep, histogram: bins },
      {
        maxima: heaps('maxima'),
        negatedMinima: heaps('negatedMinima'),
        maxHistogram: state.take('maxHistogram', 'f64', features * width),
        minHistogram: state.take('minHistogram', 'f64', features * width),
        tokens: integerParam(state, KIND, 'tokensSeen'),
        sequences: integerParam(state, KIND, 'sequencesSeen'),
      },
    );
  }

  private heaps(sign: Sign): ExtremeHeaps {
    if (sign === 'positive') return this.maxima;
    if (sign === 'negative') return this.negatedMinima;
    throw new Error(`${NAME}: sign must be "positive" or "negative", got ${String(sign)}`);
  }

  private checkFeature(feature: number): number {
    if (!Number.isInteger(feature) || feature < 0 || feature >= this.features) throw new Error(`${NAME}: feature ${feature} is outside [0, ${this.features})`);
    return feature;
  }
}

function checkBins(histogram: HistogramBins | undefined): HistogramBins {
  if (!histogram || typeof histogram !== 'object') throw new ExpgenError(`${NAME}: option "histogram" must be { low, high, bins }`);
  const { low, high, bins } = histogram;
  checkCount(NAME, 'histogram.bins', bins);
  if (!(Number.isFinite(low) && Number.isFinite(high) && low < high)) {
    throw new ExpgenError(`${NAME}: option "histogram" needs finite low < high, got low ${String(low)}, high ${String(high)}`);
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
    if (value !== value) {
      throw new ExpgenError(`${NAME}: the subject returned NaN as the per-sequence ${what} of feature ${i % features} (row ${Math.floor(i / features)}); check the model's numerics (fp16 overflow?)`);
    }
  }
}

/** Rejects restored heaps that violate the heap property (a damaged checkpoint would otherwise merge wrongly). */
function checkHeaps(heaps: ExtremeHeaps, name: string): void {
  for (let f = 0; f < heaps.features; f++) {
    const count = heaps.counts[f]!;
    if (count < 0 || count > heaps.keep) throw corruptCheckpoint(KIND, `${name} count of feature ${f} is ${count}`);
    const base = f * heaps.keep;
    for (let at = 1; at < count; at++) {
      if (heaps.heap[base + ((at - 1) >> 1)]! > heaps.heap[base + at]!) throw corruptCheckpoint(KIND, `${name} of feature ${f} is not a heap`);
    }
  }
}
