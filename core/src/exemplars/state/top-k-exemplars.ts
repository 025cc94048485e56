import { type Sign, ExpgenError } from '@expgen/contract';
import { allocate, checkCount, checkSequenceId } from './checks.js';
import type { SequenceReferences } from './sequence-store.js';
import { corruptCheckpoint, decodeState, encodeState, integerParam } from './state-codec.js';

/** One batch of a `gated` hook result, with the global ids of its rows. */
export interface GatedBatch {
  /** Global id of each row; increasing within one stream, unique across shards. */
  readonly sequenceIds: ArrayLike<number>;
  /** [rows, features] per-sequence maximum. */
  readonly max: Float32Array;
  /** [rows, features] per-sequence minimum. */
  readonly min: Float32Array;
  /** Pair i is (rows[i], features[i]) with per-token values values[i * seqLen .. (i + 1) * seqLen). */
  readonly gated: { readonly rows: Int32Array; readonly features: Int32Array; readonly values: Float32Array };
  readonly seqLen: number;
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
}

const KIND = 'top-k-exemplars';
const NAME = 'TopKExemplars';

/**
 * The top-k (or bottom-k) list of every feature for one sign, in flat typed arrays.
 *
 * Both signs share one code path by ranking on a key: the value itself for the positive sign, its negation for the
 * negative one (negation is exact in floating point), so "better" is always a larger key, then a smaller sequence
 * id. Each feature's entries form a binary heap with the worst entry at the root (the gating threshold), so an
 * insertion moves O(log k) entries of three small arrays; rank order is produced by sorting only when read. The
 * per-token activations live in k fixed slots per feature and `slots` says which slot each heap entry uses, so an
 * insertion copies one activation row and never moves the others.
 */
class RankedLists {
  readonly keys: Float32Array;
  readonly ids: Float64Array;
  readonly slots: Int32Array;
  readonly activations: Float32Array;
  readonly counts: Int32Array;
  /** Key of each feature's worst (k-th) entry, -Infinity while it holds fewer than k: the threshold in key space. */
  readonly worstKeys: Float32Array;

  constructor(
    readonly features: number,
    readonly k: number,
    readonly seqLen: number,
    arrays?: {
      keys: Float32Array;
      ids: Float64Array;
      slots: Int32Array;
      activations: Float32Array;
      counts: Int32Array;
    },
  ) {
    this.keys = arrays?.keys ?? allocate(NAME, 'ranked keys', features * k, (n) => new Float32Array(n));
    this.ids = arrays?.ids ?? allocate(NAME, 'ranked ids', features * k, (n) => new Float64Array(n));
    this.slots = arrays?.slots ?? allocate(NAME, 'slot indexes', features * k, (n) => new Int32Array(n));
    this.activations =
      arrays?.activations ?? allocate(NAME, 'per-token activations', features * k * seqLen, (n) => new Float32Array(n));
    this.counts = arrays?.counts ?? new Int32Array(features);
    this.worstKeys = new Float32Array(features).fill(-Infinity);
    for (let f = 0; f < features; f++) if (this.counts[f] === k) this.worstKeys[f] = this.keys[f * k]!;
  }

  /** Whether (key, id) would enter feature f's list: strictly better than its worst entry, or the list has room. */
  beats(f: number, key: number, id: number): boolean {
    const worst = this.worstKeys[f]!;
    if (key > worst) return true;
    return key === worst && this.counts[f] === this.k && id < this.ids[f * this.k]!;
  }

  /**
   * Inserts (key, id) with activations source[from .. from + seqLen) if it ranks among the best k of feature f.
   * A key of -Infinity (a row with no counted position) never enters. Returns whether it entered.
   */
  insert(
    f: number,
    key: number,
    id: number,
    source: Float32Array,
    from: number,
    references: SequenceReferences | undefined,
  ): boolean {
    const { k, keys, ids, slots } = this;
    if (key === -Infinity || !this.beats(f, key, id)) return false;
    const base = f * k;
    const count = this.counts[f]!;
    let slot: number;
    let evicted = -1;
    let at: number;
    if (count < k) {
      // Entries only leave by being displaced, so while a list is filling its slots in use are exactly 0..count-1.
      slot = count;
      this.counts[f] = count + 1;
      // Sift up: move parents down while they are better than the new entry (the root stays the worst).
      at = count;
      while (at > 0) {
        const parent = (at - 1) >> 1;
        const parentKey = keys[base + parent]!;
        if (parentKey < key || (parentKey === key && ids[base + parent]! > id)) break;
        keys[base + at] = parentKey;
        ids[base + at] = ids[base + parent]!;
        slots[base + at] = slots[base + parent]!;
        at = parent;
      }
    } else {
      // Replace the worst entry (the root) and sift down, moving the worse child up while it is worse than the new one.
      evicted = ids[base]!;
      slot = slots[base]!;
      at = 0;
      for (;;) {
        let child = 2 * at + 1;
        if (child >= k) break;
        let childKey = keys[base + child]!;
        if (child + 1 < k) {
          const rightKey = keys[base + child + 1]!;
          if (rightKey < childKey || (rightKey === childKey && ids[base + child + 1]! > ids[base + child]!)) {
            child++;
            childKey = rightKey;
          }
        }
        if (key < childKey || (key === childKey && id > ids[base + child]!)) break;
        keys[base + at] = childKey;
        ids[base + at] = ids[base + child]!;
        slots[base + at] = slots[base + child]!;
        at = child;
      }
    }
    keys[base + at] = key;
    ids[base + at] = id;
    slots[base + at] = slot;
    const activations = this.activations;
    for (let t = 0, to = (base + slot) * this.seqLen; t < this.seqLen; t++) activations[to + t] = source[from + t]!;
    if (this.counts[f] === k) this.worstKeys[f] = keys[base]!;
    if (references) {
      references.retain(id);
      if (evicted >= 0) references.release(evicted);
    }
    return true;
  }

  /** Whether feature f's list holds exactly (key, id). */
  holds(f: number, key: number, id: number): boolean {
    const base = f * this.k;
    for (let at = base; at < base + this.counts[f]!; at++)
      if (this.keys[at] === key && this.ids[at] === id) return true;
    return false;
  }

  /** Heap positions of feature f's entries in rank order: larger key first, then smaller id. */
  rankOrder(f: number): number[] {
    const base = f * this.k;
    const order = Array.from({ length: this.counts[f]! }, (_, i) => base + i);
    return order.sort((a, b) => this.keys[b]! - this.keys[a]! || this.ids[a]! - this.ids[b]!);
  }

  /** Offset of the activations of the entry at heap position `at`. */
  activationOffset(f: number, at: number): number {
    return (f * this.k + this.slots[at]!) * this.seqLen;
  }
}

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
  /** Marks the gated (row, feature) pairs of the batch being offered; kept between calls to avoid reallocation. */
  private gatedMarks = new Uint8Array(0);
  /** Scratch for ordering a batch's pairs by feature. */
  private pairOrder = new Int32Array(0);
  private readonly featureStarts: Int32Array;

  constructor(
    options: TopKExemplarsOptions,
    restored?: { positive: RankedLists; negative: RankedLists; lastSequenceId: number },
  ) {
    this.features = checkCount(NAME, 'features', options.features);
    this.k = checkCount(NAME, 'k', options.k);
    this.seqLen = checkCount(NAME, 'seqLen', options.seqLen);
    this.references = options.references;
    this.positive = restored?.positive ?? new RankedLists(this.features, this.k, this.seqLen);
    this.negative = restored?.negative ?? new RankedLists(this.features, this.k, this.seqLen);
    this.lastId = restored?.lastSequenceId ?? -1;
    this.featureStarts = new Int32Array(this.features + 1);
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
   * Takes one batch of a gated forward. Throws, leaving the state unchanged, when the batch is malformed, its ids do
   * not increase past every id offered before, a per-sequence extreme is NaN, or a pair that belongs in a list came
   * without its per-token values (the forward used thresholds tighter than this state's).
   */
  offer(batch: GatedBatch): TopKOfferSummary {
    const { features, seqLen } = this;
    const { sequenceIds, max, min } = batch;
    const { rows, features: pairFeatures, values } = batch.gated;
    const batchRows = sequenceIds.length;
    if (batch.seqLen !== seqLen) throw new Error(`${NAME}: batch seqLen ${batch.seqLen}, the state holds ${seqLen}`);
    if (max.length !== batchRows * features || min.length !== batchRows * features) {
      throw new Error(
        `${NAME}: max/min have ${max.length}/${min.length} values for ${batchRows} rows x ${features} features`,
      );
    }
    const pairs = rows.length;
    if (pairFeatures.length !== pairs || values.length !== pairs * seqLen) {
      throw new Error(
        `${NAME}: gated has ${pairs} rows, ${pairFeatures.length} features and ${values.length} values (expected ${pairs * seqLen})`,
      );
    }
    let previous = this.lastId;
    for (let b = 0; b < batchRows; b++) {
      const id = checkSequenceId(NAME, sequenceIds[b]!);
      if (id <= previous) {
        throw new Error(
          `${NAME}: sequence id ${id} (row ${b}) does not increase past ${previous}; ids must increase within a stream for exact gating (merge shards with merge())`,
        );
      }
      previous = id;
    }

    if (this.gatedMarks.length < batchRows * features) this.gatedMarks = new Uint8Array(batchRows * features);
    const marks = this.gatedMarks;
    try {
      for (let i = 0; i < pairs; i++) {
        const row = rows[i]!;
        const f = pairFeatures[i]!;
        if (!(row >= 0 && row < batchRows && f >= 0 && f < features))
          throw new Error(`${NAME}: gated pair ${i} is (row ${row}, feature ${f}), outside ${batchRows} x ${features}`);
        if (marks[row * features + f] === 1)
          throw new Error(`${NAME}: gated pair (row ${row}, feature ${f}) appears twice`);
        marks[row * features + f] = 1;
      }
      this.checkCompleteness(batch, marks);
    } finally {
      marks.fill(0, 0, batchRows * features);
    }

    let positiveInsertions = 0;
    let negativeInsertions = 0;
    const references = this.references;
    // Feature-major order: the lists are a function of the set offered, not the order, and taking one feature's
    // pairs together keeps its lists in cache (row-major order missed cache on nearly every access while lists fill).
    const order = this.featureMajorOrder(pairFeatures);
    for (let n = 0; n < pairs; n++) {
      const i = order[n]!;
      const row = rows[i]!;
      const f = pairFeatures[i]!;
      const id = sequenceIds[row]!;
      const at = row * features + f;
      if (this.positive.insert(f, max[at]!, id, values, i * seqLen, references)) positiveInsertions++;
      if (this.negative.insert(f, -min[at]!, id, values, i * seqLen, references)) negativeInsertions++;
    }
    if (batchRows > 0) this.lastId = previous;
    return { gatedPairs: pairs, positiveInsertions, negativeInsertions };
  }

  /** Pair indexes sorted by feature (counting sort, stable), in scratch memory reused across batches. */
  private featureMajorOrder(pairFeatures: Int32Array): Int32Array {
    const pairs = pairFeatures.length;
    if (this.pairOrder.length < pairs) this.pairOrder = new Int32Array(Math.max(pairs, 2 * this.pairOrder.length));
    const starts = this.featureStarts;
    starts.fill(0);
    for (let i = 0; i < pairs; i++) starts[pairFeatures[i]! + 1]!++;
    for (let f = 0; f < this.features; f++) starts[f + 1]! += starts[f]!;
    const order = this.pairOrder;
    for (let i = 0; i < pairs; i++) order[starts[pairFeatures[i]!]!++] = i;
    return order;
  }

  /** Throws if an extreme is NaN or a pair that would enter a list is not among the gated pairs. */
  private checkCompleteness(batch: GatedBatch, marks: Uint8Array): void {
    const { features } = this;
    const { max, min, sequenceIds } = batch;
    const positiveWorst = this.positive.worstKeys;
    const negativeWorst = this.negative.worstKeys;
    for (let b = 0, at = 0; b < sequenceIds.length; b++) {
      const id = sequenceIds[b]!;
      for (let f = 0; f < features; f++, at++) {
        const high = max[at]!;
        const low = min[at]!;
        if (Number.isNaN(high) || Number.isNaN(low)) {
          throw new ExpgenError(
            `${NAME}: the subject returned NaN as the per-sequence ${Number.isNaN(high) ? 'max' : 'min'} of feature ${f} on sequence ${id}; check the model's numerics (fp16 overflow?)`,
          );
        }
        if (marks[at] === 1) continue;
        // The common case is one comparison per sign against the dense worst-key arrays; `beats` settles ties.
        if (
          (high >= positiveWorst[f]! && high !== -Infinity && this.positive.beats(f, high, id)) ||
          (-low >= negativeWorst[f]! && low !== Infinity && this.negative.beats(f, -low, id))
        ) {
          throw new Error(
            `${NAME}: sequence ${id} (row ${b}) belongs in feature ${f}'s lists (max ${high}, min ${low}; thresholds ${positiveWorst[f]} / ${-negativeWorst[f]!}) ` +
              "but the batch has no per-token values for it: the forward was gated with thresholds tighter than this state's",
          );
        }
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
    options: { references?: SequenceReferences } = {},
  ): TopKExemplars {
    const state = decodeState(input, KIND);
    const features = integerParam(state, KIND, 'features', 1);
    const k = integerParam(state, KIND, 'k', 1);
    const seqLen = integerParam(state, KIND, 'seqLen', 1);
    const lastSequenceId = integerParam(state, KIND, 'lastSequenceId', -1);
    const restore = (sign: Sign): RankedLists => {
      const lists = new RankedLists(features, k, seqLen, {
        keys: state.take(`${sign}.keys`, 'f32', features * k),
        ids: state.take(`${sign}.ids`, 'f64', features * k),
        slots: state.take(`${sign}.slots`, 'i32', features * k),
        counts: state.take(`${sign}.counts`, 'i32', features),
        activations: state.take(`${sign}.activations`, 'f32', features * k * seqLen),
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

/** Rejects a restored list whose counts, heap order or slots are inconsistent (a damaged or hand-edited checkpoint). */
function checkRestored(lists: RankedLists, sign: Sign): void {
  const { k, keys, ids } = lists;
  const used = new Uint8Array(k);
  for (let f = 0; f < lists.features; f++) {
    const count = lists.counts[f]!;
    if (count < 0 || count > k) throw corruptCheckpoint(KIND, `${sign} count of feature ${f} is ${count}`);
    used.fill(0);
    const base = f * k;
    for (let i = 0; i < count; i++) {
      const slot = lists.slots[base + i]!;
      if (slot < 0 || slot >= count || used[slot] === 1)
        throw corruptCheckpoint(KIND, `${sign} slots of feature ${f} are not a permutation`);
      used[slot] = 1;
      if (i > 0) {
        const parent = base + ((i - 1) >> 1);
        const child = base + i;
        // The parent must be worse than the child (smaller key, or equal key and larger id).
        if (!(keys[parent]! < keys[child]! || (keys[parent] === keys[child] && ids[parent]! > ids[child]!))) {
          throw corruptCheckpoint(KIND, `${sign} entries of feature ${f} are not a heap`);
        }
      }
    }
  }
}
