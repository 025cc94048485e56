import { type Sign, ExpgenError } from '@expgen/contract';
import { checkCount, checkNoNaN, checkTokens } from './checks.js';
import type { DistributionHandles, ExtremesBatch, SparseExtremesBatch } from './extremes-batch.js';
import { binEdges, checkBins, countBins, sameBins, type HistogramBins } from './histogram-bins.js';
import { ExtremeBuffers, checkExtremeBuffers } from './kept-extremes.js';
import { selectionHash } from './random-sequences.js';
import { corruptCheckpoint, decodeState, encodeState, integerParam } from './state-codec.js';
import { copyInto, isShared, stateArray, type StateMemory } from './state-memory.js';
import { denseExtremes } from './sparse-pairs.js';
import { quantileOfSorted } from './tail-quantiles.js';

export { selectDescending } from './kept-extremes.js';
export { TAIL_FRACTIONS, quantileOfSorted } from './tail-quantiles.js';
export type { HistogramBins } from './histogram-bins.js';
export type { DistributionHandles, ExtremesBatch, SparseExtremesBatch } from './extremes-batch.js';

export interface ActivationDistributionOptions {
  readonly features: number;
  /** M: how many of the largest maxima (and smallest minima) to keep per feature (10,000 in the reference). */
  readonly keep: number;
  readonly histogram: HistogramBins;
  /**
   * Fraction of sequences whose extremes go into the histogram (1: every sequence). A sequence is in the sample
   * when a hash of its id falls below the fraction (`inHistogramSample`), so shards sample the same sequences.
   */
  readonly histogramSample?: number;
  /** `shared`: the arrays live in SharedArrayBuffers, for merge workers (default `private`). */
  readonly memory?: StateMemory;
}

const KIND = 'activation-distribution';
const NAME = 'ActivationDistribution';
/** Salt of the histogram sample's hash, so that it is unrelated to the random sequences' selection. */
const HISTOGRAM_SALT = 0x48495354n;

/**
 * Per feature: the M largest per-sequence maxima and the M smallest per-sequence minima, fixed-bin histograms of
 * the per-sequence maxima and minima of a sample of sequences, and the tokens and sequences seen, from which
 * `tailQuantile` estimates the activation that a fraction q of tokens exceed (the reference's highlight thresholds).
 *
 * Exact and mergeable: the kept extremes are a multiset (no ids, so ties cannot matter), the histogram bin of a
 * value depends only on the value and the bin options, the sample only on the sequence id, and counts add.
 * Sharded and merged, the state has the same content as one stream; only the buffers' internal order may differ,
 * which `sortedExtremes` does not show.
 *
 * Host cost: the kept extremes take only values above their threshold, and `thresholds()` is what a gated forward
 * is fed, so only those leave the device (HookRequest.extremeThresholds): over N sequences about M (1 + ln(N / M))
 * values per feature ever arrive. The tail quantiles come from the kept extremes alone, so they stay exact. The
 * histogram is for display (the report) and takes the sample's dense extremes: a fraction `histogramSample` of the
 * host's former per-sequence cost, with the histogram's counts those of the sample.
 *
 * Memory per feature: 2 x (M + M/8) x 4 bytes of extremes + 2 x (bins + 2) x 8 bytes of counts (M = 10,000 and
 * 64 bins: 91 KB, so 1.3 GB for the 14,336 neurons of one Llama-3.1-8B layer).
 */
export class ActivationDistribution {
  readonly features: number;
  readonly keep: number;
  readonly bins: HistogramBins;
  readonly histogramSample: number;
  private readonly maxima: ExtremeBuffers;
  private readonly negatedMinima: ExtremeBuffers;
  /** [features, bins + 2]: underflow, bins, overflow. */
  private readonly maxHistogram: Float64Array;
  private readonly minHistogram: Float64Array;
  private readonly sampleBelow: bigint;
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
    this.bins = checkBins(NAME, options.histogram);
    this.histogramSample = checkSample(options.histogramSample ?? 1);
    this.sampleBelow = BigInt(Math.round(this.histogramSample * 2 ** 32)) << 32n;
    const memory = options.memory ?? 'private';
    const width = this.bins.bins + 2;
    this.maxima = restored?.maxima ?? new ExtremeBuffers(this.features, this.keep, undefined, memory);
    this.negatedMinima = restored?.negatedMinima ?? new ExtremeBuffers(this.features, this.keep, undefined, memory);
    this.maxHistogram =
      restored?.maxHistogram ?? stateArray(NAME, 'histogram', Float64Array, this.features * width, memory);
    this.minHistogram =
      restored?.minHistogram ?? stateArray(NAME, 'histogram', Float64Array, this.features * width, memory);
    this.tokens = restored?.tokens ?? 0;
    this.sequences = restored?.sequences ?? 0;
  }

  /** The shared arrays, for a merge worker's `attach`. */
  handles(): DistributionHandles {
    const { features, keep, maxHistogram, minHistogram } = this;
    if (!isShared(maxHistogram, minHistogram))
      throw new Error(`${NAME}: only a distribution in shared memory can be handed to a merge worker`);
    return {
      features,
      keep,
      histogram: { ...this.bins },
      maxima: this.maxima.arrays(),
      negatedMinima: this.negatedMinima.arrays(),
      maxHistogram,
      minHistogram,
    };
  }

  /** A view of a distribution in shared memory, in a merge worker (see TopKExemplars.attach). */
  static attach(handles: DistributionHandles): ActivationDistribution {
    const { features, keep, histogram } = handles;
    return new ActivationDistribution(
      { features, keep, histogram },
      {
        maxima: new ExtremeBuffers(features, keep, handles.maxima),
        negatedMinima: new ExtremeBuffers(features, keep, handles.negatedMinima),
        maxHistogram: handles.maxHistogram,
        minHistogram: handles.minHistogram,
        tokens: 0,
        sequences: 0,
      },
    );
  }

  /** Tokens the offered extremes were taken over: N in the quantile estimate. */
  get tokensSeen(): number {
    return this.tokens;
  }

  /** Rows offered. */
  get sequencesSeen(): number {
    return this.sequences;
  }

  /** Whether a sequence's extremes go into the histogram: a hash of its id below `histogramSample`. */
  inHistogramSample(sequenceId: number): boolean {
    return this.histogramSample === 1 || selectionHash(HISTOGRAM_SALT, sequenceId) < this.sampleBelow;
  }

  /**
   * The gate of the next forward's extremes (HookRequest.extremeThresholds): top[f] is the threshold a maximum
   * must pass to be kept, bottom[f] likewise for a minimum (-Infinity / +Infinity until the first selection).
   */
  thresholds(into?: { top: Float32Array; bottom: Float32Array }): { top: Float32Array; bottom: Float32Array } {
    const top = into?.top ?? new Float32Array(this.features);
    const bottom = into?.bottom ?? new Float32Array(this.features);
    top.set(this.maxima.thresholds);
    const negated = this.negatedMinima.thresholds;
    for (let f = 0; f < this.features; f++) bottom[f] = -negated[f]!;
    return { top, bottom };
  }

  /**
   * Takes one batch of dense per-sequence extremes, every row in the histogram. A maximum of -Infinity (minimum
   * of +Infinity) means the row had no counted position for the feature and is skipped. Throws, leaving the state
   * unchanged, on a NaN extreme.
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
    checkTokens(NAME, tokens);
    checkNoNaN(NAME, max, features, 'max');
    checkNoNaN(NAME, min, features, 'min');
    this.mergeRange(
      {
        rows,
        maxima: denseExtremes(max, rows, features, -Infinity),
        minima: denseExtremes(min, rows, features, Infinity),
        sample: { rows, max, min },
      },
      0,
      features,
    );
    this.count(rows, tokens);
  }

  /** Takes one batch of gated extremes over `tokens` counted tokens. */
  offerSparse(batch: SparseExtremesBatch, tokens: number): void {
    checkTokens(NAME, tokens);
    for (const list of [batch.maxima, batch.minima, { values: batch.sample.max }, { values: batch.sample.min }]) {
      for (let i = 0; i < list.values.length; i++)
        if (Number.isNaN(list.values[i]!))
          throw new ExpgenError(
            `${NAME}: the subject returned a NaN extreme; check the model's numerics (fp16 overflow?)`,
          );
    }
    this.mergeRange(batch, 0, this.features);
    this.count(batch.rows, tokens);
  }

  /**
   * Merges features [from, to) of a batch: the kept extremes of each feature take its values above the threshold
   * in stream order, the histogram the sampled rows. Ranges are disjoint memory: merge workers run them in
   * parallel on one distribution in shared memory.
   */
  mergeRange(batch: SparseExtremesBatch, from: number, to: number): void {
    this.maxima.addSparse(batch.maxima, batch.rows, from, to, 1);
    this.negatedMinima.addSparse(batch.minima, batch.rows, from, to, -1);
    const { max, min, rows } = batch.sample;
    countBins(this.bins, max, rows, this.features, this.maxHistogram, from, to, -Infinity);
    countBins(this.bins, min, rows, this.features, this.minHistogram, from, to, Infinity);
  }

  /** Counts a batch's sequences and counted tokens (the main thread does, once per batch). */
  count(rows: number, tokens: number): void {
    this.tokens += tokens;
    this.sequences += rows;
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

  /** The bin edges (bins + 1 of them); see `binEdges`. */
  binEdges(): Float64Array {
    return binEdges(this.bins);
  }

  /** The reference's tail-quantile estimate from the kept extremes (see `quantileOfSorted`), or null. */
  tailQuantile(feature: number, q: number, sign: Sign): number | null {
    if (!(q > 0 && q < 1)) throw new Error(`${NAME}: tail fraction q must be in (0, 1), got ${q}`);
    const n = this.kept(feature, sign);
    if (n === 0 || this.tokens === 0) return null;
    return quantileOfSorted(this.sortedExtremes(feature, sign), this.tokens, q, sign);
  }

  /**
   * Adds another shard's distribution (same options): afterwards this state has exactly the content of one stream
   * over both. `other` is not changed.
   */
  merge(other: ActivationDistribution): void {
    if (other === this) throw new Error(`${NAME}: cannot merge a state with itself`);
    if (
      other.features !== this.features ||
      other.keep !== this.keep ||
      !sameBins(other.bins, this.bins) ||
      other.histogramSample !== this.histogramSample
    ) {
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
        histogramSample: this.histogramSample,
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
  static fromBuffers(
    input: Uint8Array | readonly Uint8Array[],
    options: { memory?: StateMemory } = {},
  ): ActivationDistribution {
    const memory = options.memory ?? 'private';
    const state = decodeState(input, KIND);
    const features = integerParam(state, KIND, 'features', 1);
    const keep = integerParam(state, KIND, 'keep', 1);
    const histogram = state.params['histogram'] as HistogramBins;
    let bins: HistogramBins;
    try {
      bins = checkBins(NAME, histogram);
    } catch (error) {
      throw corruptCheckpoint(KIND, (error as Error).message);
    }
    const width = bins.bins + 2;
    const room = ExtremeBuffers.roomFor(keep);
    const buffers = (name: string): ExtremeBuffers => {
      const restored = new ExtremeBuffers(features, keep, {
        keys: copyInto(NAME, name, state.take(`${name}.keys`, 'f32', features * room), memory),
        counts: copyInto(NAME, name, state.take(`${name}.counts`, 'i32', features), memory),
        thresholds: copyInto(NAME, name, state.take(`${name}.thresholds`, 'f32', features), memory),
      });
      checkExtremeBuffers(restored, name);
      return restored;
    };
    const sample = state.params['histogramSample'] ?? 1;
    if (typeof sample !== 'number' || !(sample > 0 && sample <= 1))
      throw corruptCheckpoint(KIND, `histogramSample is ${JSON.stringify(sample)}`);
    return new ActivationDistribution(
      { features, keep, histogram: bins, histogramSample: sample },
      {
        maxima: buffers('maxima'),
        negatedMinima: buffers('negatedMinima'),
        maxHistogram: copyInto(NAME, 'histogram', state.take('maxHistogram', 'f64', features * width), memory),
        minHistogram: copyInto(NAME, 'histogram', state.take('minHistogram', 'f64', features * width), memory),
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

function checkSample(sample: number): number {
  if (!(typeof sample === 'number' && sample > 0 && sample <= 1))
    throw new ExpgenError(`${NAME}: option "histogramSample" must be a fraction in (0, 1], got ${String(sample)}`);
  // Whole multiples of 2^-32: the hash comparison is exact and the same on every shard.
  return Math.max(1, Math.round(sample * 2 ** 32)) / 2 ** 32;
}
