import type { Sign } from '@expgen/contract';
import { checkCount } from './checks.js';
import { type GatedBatch, type SparseGatedBatch, checkSparseBatch, sparseFromDense } from './gated-batch.js';
import { RankedLists, checkRestored, type RankedListArrays } from './ranked-lists.js';
import type { SequenceReferences } from './sequence-store.js';
import { decodeState, encodeState, integerParam } from './state-codec.js';
import { copyInto, type StateMemory } from './state-memory.js';
import { extremesRange, pairRange } from './sparse-pairs.js';

export type { GatedBatch, SparseGatedBatch } from './gated-batch.js';

/** What a merge worker needs to attach to a state in shared memory. */
export interface TopKHandles {
  readonly features: number;
  readonly k: number;
  readonly seqLen: number;
  readonly positive: RankedListArrays;
  readonly negative: RankedListArrays;
}

/** Per-feature thresholds for the next `gated` forward: a pair can enter only if max > top[f] or min < bottom[f]. */
export interface ExemplarThresholds {
  readonly top: Float32Array;
  readonly bottom: Float32Array;
}

export interface Exemplar {
  readonly sequenceId: number;
  /** The per-sequence maximum (positive sign) or minimum (negative sign) the ranking uses. */
  readonly extreme: number;
  /** Per-token activations, `seqLen` of them (a copy). */
  readonly activations: Float32Array;
}

/** What one `offer` did, for progress logs (transfer is O(gated pairs); useful work is O(insertions)). */
export interface TopKOfferSummary {
  readonly gatedPairs: number;
  readonly positiveInsertions: number;
  readonly negativeInsertions: number;
}

export interface TopKExemplarsOptions {
  readonly features: number;
  readonly k: number;
  readonly seqLen: number;
  /** Told about every sequence that enters or leaves a list (a SequenceStore, usually shared by all states). */
  readonly references?: SequenceReferences;
  /** `shared`: the lists live in SharedArrayBuffers, for merge workers (default `private`). */
  readonly memory?: StateMemory;
}

const KIND = 'top-k-exemplars';
const NAME = 'TopKExemplars';

/**
 * Per feature, the k sequences with the largest per-sequence maximum (positive sign) and the k with the smallest
 * per-sequence minimum (negative sign), each with its per-token activations and sequence id.
 *
 * Order and ties: larger maximum first, then smaller sequence id (negative sign: smaller minimum first, then
 * smaller id). That is a total order on (value, id), so the lists are a function of the set of sequences offered,
 * not of the order they came in: merging shard states gives exactly the single-stream state.
 *
 * Gating is exact: `thresholds()` gives the k-th value per feature, and the subject returns per-token values only
 * for pairs strictly beyond it. A pair equal to the threshold can enter only with a smaller id than the k-th entry,
 * which cannot happen when ids increase within a stream; `offer` checks that they do. It also checks that every
 * pair that belongs in a list came with its values, so a forward run with the wrong thresholds fails loudly
 * instead of silently losing exemplars. Thresholds from an older state (a pipelined host that runs batch n+1
 * before offering batch n) are looser, hence still exact.
 *
 * Memory per feature: 2 signs x k x (seqLen x 4 + 16) bytes (activations, key, id, slot) + small per-feature
 * arrays; for k = 100 and seqLen = 95 that is 79 KB, so 1.1 GB for the 14,336 neurons of one Llama-3.1-8B layer.
 * Token ids live in a SequenceStore, once per sequence.
 */
export class TopKExemplars {
  readonly features: number;
  readonly k: number;
  readonly seqLen: number;
  private readonly positive: RankedLists;
  private readonly negative: RankedLists;
  private readonly references: SequenceReferences | undefined;
  private lastId = -1;
  /** Heap positions in rank order, reused by `forEachRanked`. */
  private rankScratch = new Int32Array(0);

  constructor(
    options: TopKExemplarsOptions,
    restored?: { positive: RankedLists; negative: RankedLists; lastSequenceId: number },
  ) {
    this.features = checkCount(NAME, 'features', options.features);
    this.k = checkCount(NAME, 'k', options.k);
    this.seqLen = checkCount(NAME, 'seqLen', options.seqLen);
    this.references = options.references;
    const memory = options.memory ?? 'private';
    this.positive = restored?.positive ?? new RankedLists(this.features, this.k, this.seqLen, undefined, memory);
    this.negative = restored?.negative ?? new RankedLists(this.features, this.k, this.seqLen, undefined, memory);
    this.lastId = restored?.lastSequenceId ?? -1;
  }

  /** The shared arrays, for a merge worker's `attach`. */
  handles(): TopKHandles {
    const { features, k, seqLen } = this;
    return { features, k, seqLen, positive: this.positive.arrays(), negative: this.negative.arrays() };
  }

  /**
   * A view of a state in shared memory, in a merge worker: it updates the lists of the features it is given with
   * `mergeRange`; the main thread owns everything else (sequence ids, checks, references).
   */
  static attach(handles: TopKHandles): TopKExemplars {
    const { features, k, seqLen } = handles;
    return new TopKExemplars(
      { features, k, seqLen },
      {
        positive: new RankedLists(features, k, seqLen, handles.positive),
        negative: new RankedLists(features, k, seqLen, handles.negative),
        lastSequenceId: -1,
      },
    );
  }

  /** The largest sequence id offered so far (-1 before any): the next batch's ids must all be larger. */
  get lastSequenceId(): number {
    return this.lastId;
  }

  /**
   * Thresholds for the next gated forward: top[f] is the k-th largest maximum of feature f (-Infinity while it holds
   * fewer than k), bottom[f] the k-th smallest minimum (+Infinity while fewer). Written into `into` when given.
   */
  thresholds(into?: ExemplarThresholds): ExemplarThresholds {
    const top = into?.top ?? new Float32Array(this.features);
    const bottom = into?.bottom ?? new Float32Array(this.features);
    if (top.length !== this.features || bottom.length !== this.features)
      throw new Error(`${NAME}: thresholds arrays must have ${this.features} elements`);
    top.set(this.positive.worstKeys);
    const worst = this.negative.worstKeys;
    for (let f = 0; f < this.features; f++) bottom[f] = -worst[f]!;
    return { top, bottom };
  }

  /**
   * Takes one batch of a gated forward with dense extremes. Throws, leaving the state unchanged, when the batch is
   * malformed, its ids do not increase past every id offered before, a per-sequence extreme is NaN, or a pair that
   * belongs in a list came without its per-token values (the forward used thresholds tighter than this state's).
   * Gated pairs may come in any order.
   */
  offer(batch: GatedBatch): TopKOfferSummary {
    return this.offerSparse(sparseFromDense(batch, this.features, this.seqLen));
  }

  /** Takes one batch of a gated forward with gated extremes; throws, leaving the state unchanged, as `offer`. */
  offerSparse(batch: SparseGatedBatch): TopKOfferSummary {
    this.checkBatch(batch);
    const inserted = this.mergeRange(batch, 0, this.features, this.references);
    this.commitBatch(batch);
    return { gatedPairs: batch.gated.rows.length, ...inserted };
  }

  /**
   * The checks of a batch that do not depend on the lists (shapes, pair order, increasing ids, NaN extremes): the
   * main thread runs them once before merge workers take their feature ranges with `mergeRange`.
   */
  checkBatch(batch: SparseGatedBatch): void {
    checkSparseBatch(batch, { features: this.features, seqLen: this.seqLen, lastSequenceId: this.lastId });
  }

  /**
   * Merges the pairs of features [from, to) of a checked batch into their lists: first checks that every extreme
   * in the range that belongs in a list came with its per-token values (so a failure changes nothing in the range),
   * then inserts in feature-major order, telling `references` who entered and left. Ranges are disjoint memory:
   * merge workers run them in parallel on one state in shared memory.
   */
  mergeRange(
    batch: SparseGatedBatch,
    from: number,
    to: number,
    references: SequenceReferences | undefined,
  ): { positiveInsertions: number; negativeInsertions: number } {
    const { gated, sequenceIds } = batch;
    const [start, end] = pairRange(gated.features, from, to);
    this.checkCompleteness(batch, from, to, start, end);
    let positiveInsertions = 0;
    let negativeInsertions = 0;
    const seqLen = this.seqLen;
    for (let i = start; i < end; i++) {
      const f = gated.features[i]!;
      const id = sequenceIds[gated.rows[i]!]!;
      if (this.positive.insert(f, gated.max[i]!, id, gated.values, i * seqLen, references)) positiveInsertions++;
      if (this.negative.insert(f, -gated.min[i]!, id, gated.values, i * seqLen, references)) negativeInsertions++;
    }
    return { positiveInsertions, negativeInsertions };
  }

  /** Records that the batch was taken: the next batch's ids must be larger. */
  commitBatch(batch: Pick<SparseGatedBatch, 'sequenceIds'>): void {
    const rows = batch.sequenceIds.length;
    if (rows > 0) this.lastId = batch.sequenceIds[rows - 1]!;
  }

  /**
   * Throws if an extreme of features [from, to) that would enter a list is not among the gated pairs: a merge of
   * the feature-major extremes with the feature-major gated pairs [start, end).
   */
  private checkCompleteness(batch: SparseGatedBatch, from: number, to: number, start: number, end: number): void {
    const { gated, sequenceIds } = batch;
    const rows = sequenceIds.length;
    for (const [lists, extremes, sign] of [
      [this.positive, batch.maxima, 1],
      [this.negative, batch.minima, -1],
    ] as const) {
      const worst = lists.worstKeys;
      const [first, last] = extremesRange(extremes, rows, from, to);
      let g = start;
      for (let i = first; i < last; i++) {
        const at = extremes.index[i]!;
        const f = Math.floor(at / rows);
        const row = at - f * rows;
        const key = extremes.values[i]! * sign;
        // The common case is one comparison against the dense worst keys; `beats` settles ties.
        if (!(key >= worst[f]! && key !== -Infinity && lists.beats(f, key, sequenceIds[row]!))) continue;
        while (g < end && (gated.features[g]! < f || (gated.features[g] === f && gated.rows[g]! < row))) g++;
        if (g < end && gated.features[g] === f && gated.rows[g] === row) continue;
        const value = extremes.values[i]!;
        throw new Error(
          `${NAME}: sequence ${sequenceIds[row]} (row ${row}) belongs in feature ${f}'s ${sign > 0 ? 'top-k' : 'bottom-k'} list (${sign > 0 ? 'max' : 'min'} ${value}; threshold ${worst[f]! * sign}) ` +
            "but the batch has no per-token values for it: the forward was gated with thresholds tighter than this state's",
        );
      }
    }
  }

  /** How many entries feature f holds for `sign` (k once k sequences have been offered). */
  count(feature: number, sign: Sign): number {
    return this.lists(sign).counts[this.checkFeature(feature)]!;
  }

  /** Feature f's entries for `sign` in rank order (best first), with copies of their activations. */
  entries(feature: number, sign: Sign): Exemplar[] {
    const lists = this.lists(sign);
    const f = this.checkFeature(feature);
    return lists.rankOrder(f).map((at) => {
      const from = lists.activationOffset(f, at);
      const key = lists.keys[at]!;
      return {
        sequenceId: lists.ids[at]!,
        extreme: sign === 'positive' ? key : -key,
        activations: lists.activations.slice(from, from + this.seqLen),
      };
    });
  }

  /**
   * Visits feature f's entries for `sign` in rank order without copying: `activations[offset .. offset + seqLen)`
   * are the entry's per-token values (a view of the state: read them before it changes). For writers that build
   * file columns straight from the state.
   */
  forEachRanked(
    feature: number,
    sign: Sign,
    visit: (sequenceId: number, extreme: number, activations: Float32Array, offset: number) => void,
  ): void {
    const lists = this.lists(sign);
    const f = this.checkFeature(feature);
    if (this.rankScratch.length < this.k) this.rankScratch = new Int32Array(this.k);
    const order = this.rankScratch;
    const count = lists.rankOrderInto(f, order);
    for (let i = 0; i < count; i++) {
      const at = order[i]!;
      const key = lists.keys[at]!;
      visit(lists.ids[at]!, sign === 'positive' ? key : -key, lists.activations, lists.activationOffset(f, at));
    }
  }

  /** Sequence ids of feature f's entries for `sign`, in rank order. */
  sequenceIds(feature: number, sign: Sign): number[] {
    const lists = this.lists(sign);
    return lists.rankOrder(this.checkFeature(feature)).map((at) => lists.ids[at]!);
  }

  /**
   * Adds another state's entries (another shard of the same stream, disjoint ids): afterwards this state is exactly
   * the state of one stream over both. `other` is not changed; its sequences that enter are retained in this
   * state's references (copy their tokens with SequenceStore.fillFrom). Overlapping shards are detected before
   * anything changes, so a failed merge leaves this state as it was.
   */
  merge(other: TopKExemplars): void {
    if (other === this) throw new Error(`${NAME}: cannot merge a state with itself`);
    if (other.features !== this.features || other.k !== this.k || other.seqLen !== this.seqLen) {
      throw new Error(
        `${NAME}: cannot merge a state of ${other.features} features, k ${other.k}, seqLen ${other.seqLen} into one of ${this.features}, ${this.k}, ${this.seqLen}`,
      );
    }
    const pairs = [
      [this.positive, other.positive],
      [this.negative, other.negative],
    ] as const;
    for (const [mine, theirs] of pairs) {
      for (let f = 0; f < this.features; f++) {
        for (let at = f * this.k; at < f * this.k + theirs.counts[f]!; at++) {
          // Every entry of mine has a key >= my worst key, so only those can be duplicates.
          const key = theirs.keys[at]!;
          if (key >= mine.worstKeys[f]! && mine.holds(f, key, theirs.ids[at]!)) {
            throw new Error(
              `${NAME}: sequence ${theirs.ids[at]} is in both states (feature ${f}); shards must not overlap and ids must be unique`,
            );
          }
        }
      }
    }
    for (const [mine, theirs] of pairs) {
      for (let f = 0; f < this.features; f++) {
        for (let at = f * this.k; at < f * this.k + theirs.counts[f]!; at++) {
          mine.insert(
            f,
            theirs.keys[at]!,
            theirs.ids[at]!,
            theirs.activations,
            theirs.activationOffset(f, at),
            this.references,
          );
        }
      }
    }
    this.lastId = Math.max(this.lastId, other.lastId);
  }

  /** Checkpoint chunks (views of live memory: write them before the state changes). */
  toBuffers(): Uint8Array[] {
    const sections: Record<string, Float32Array | Float64Array | Int32Array> = {};
    for (const [sign, lists] of [
      ['positive', this.positive],
      ['negative', this.negative],
    ] as const) {
      sections[`${sign}.keys`] = lists.keys;
      sections[`${sign}.ids`] = lists.ids;
      sections[`${sign}.slots`] = lists.slots;
      sections[`${sign}.counts`] = lists.counts;
      sections[`${sign}.activations`] = lists.activations;
    }
    return encodeState(
      KIND,
      { features: this.features, k: this.k, seqLen: this.seqLen, lastSequenceId: this.lastId },
      sections,
    );
  }

  /**
   * Restores a state from `toBuffers()` output. `references` is attached but not told anything: the reference
   * counts come back with the SequenceStore's own checkpoint, taken at the same point.
   */
  static fromBuffers(
    input: Uint8Array | readonly Uint8Array[],
    options: { references?: SequenceReferences; memory?: StateMemory } = {},
  ): TopKExemplars {
    const memory = options.memory ?? 'private';
    const state = decodeState(input, KIND);
    const features = integerParam(state, KIND, 'features', 1);
    const k = integerParam(state, KIND, 'k', 1);
    const seqLen = integerParam(state, KIND, 'seqLen', 1);
    const lastSequenceId = integerParam(state, KIND, 'lastSequenceId', -1);
    const restore = (sign: Sign): RankedLists => {
      const take = <T extends Float32Array | Float64Array | Int32Array>(what: string, array: T) =>
        copyInto(NAME, `${sign} ${what}`, array, memory);
      const lists = new RankedLists(features, k, seqLen, {
        keys: take('keys', state.take(`${sign}.keys`, 'f32', features * k)),
        ids: take('ids', state.take(`${sign}.ids`, 'f64', features * k)),
        slots: take('slots', state.take(`${sign}.slots`, 'i32', features * k)),
        counts: take('counts', state.take(`${sign}.counts`, 'i32', features)),
        activations: take('activations', state.take(`${sign}.activations`, 'f32', features * k * seqLen)),
      });
      checkRestored(lists, sign);
      return lists;
    };
    const positive = restore('positive');
    const negative = restore('negative');
    return new TopKExemplars(
      { features, k, seqLen, ...(options.references ? { references: options.references } : {}) },
      { positive, negative, lastSequenceId },
    );
  }

  private lists(sign: Sign): RankedLists {
    if (sign === 'positive') return this.positive;
    if (sign === 'negative') return this.negative;
    throw new Error(`${NAME}: sign must be "positive" or "negative", got ${String(sign)}`);
  }

  private checkFeature(feature: number): number {
    if (!Number.isInteger(feature) || feature < 0 || feature >= this.features)
      throw new Error(`${NAME}: feature ${feature} is outside [0, ${this.features})`);
    return feature;
  }
}
