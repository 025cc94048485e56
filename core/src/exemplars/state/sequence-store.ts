import { ExpgenError } from '@expgen/contract';
import { allocate, checkCount, checkSequenceId } from './checks.js';
import { IdSlotIndex } from './id-slot-index.js';
import { corruptCheckpoint, decodeState, encodeState, integerParam } from './state-codec.js';
import type {
  SequenceColumns,
  SequenceContent,
  SequencePlacement,
  SequenceRecord,
  SequenceReferences,
  SequenceStoreOptions,
} from './sequence-types.js';

export type {
  SequenceReferences,
  SequenceContent,
  SequenceRecord,
  SequencePlacement,
  SequenceColumns,
  SequenceStoreOptions,
} from './sequence-types.js';

const KIND = 'sequence-store';
const NAME = 'SequenceStore';

/**
 * The tokens and metadata of every sequence some exemplar list refers to, each stored once however many features
 * (of however many layers and states) refer to it, and freed when the last reference goes.
 *
 * Storage is slot-based: fixed-size per-slot typed arrays plus a free list, so millions of sequences cost no
 * per-sequence heap objects except the document id strings (which windows of one document share).
 *
 * Protocol per batch: the states `retain`/`release` while they take a batch; afterwards the host calls `put` for
 * every row of the batch, which keeps the content only of rows that are now referenced. A sequence referenced and
 * released within one batch never gets content. `missing()` lists references whose content never came (a host bug).
 */
export class SequenceStore implements SequenceReferences {
  readonly seqLen: number;
  private readonly index: IdSlotIndex;
  private capacity: number;
  /** Slots [0, highWater) have been used at least once; slots past it are untouched. */
  private highWater = 0;
  private freeSlots: Int32Array;
  private freeCount = 0;
  private slotIds: Float64Array;
  private referenceCounts: Int32Array;
  private hasContent: Uint8Array;
  private lengths: Int32Array;
  private datasetIndexes: Int32Array;
  private splitIndexes: Int32Array;
  /** -1 where not given. */
  private windows: Int32Array;
  /** -1 where not given. */
  private countFroms: Int32Array;
  private tokens: Int32Array;
  private documentIds: string[];
  private readonly splitNames: string[] = [];
  private readonly splitByName = new Map<string, number>();
  private live = 0;

  constructor(options: SequenceStoreOptions) {
    this.seqLen = checkCount(NAME, 'seqLen', options.seqLen);
    this.capacity = Math.max(1, checkCount(NAME, 'initialCapacity', options.initialCapacity ?? 1024));
    this.index = new IdSlotIndex(this.capacity);
    this.freeSlots = new Int32Array(this.capacity);
    this.slotIds = new Float64Array(this.capacity).fill(-1);
    this.referenceCounts = new Int32Array(this.capacity);
    this.hasContent = new Uint8Array(this.capacity);
    this.lengths = new Int32Array(this.capacity);
    this.datasetIndexes = new Int32Array(this.capacity);
    this.splitIndexes = new Int32Array(this.capacity);
    this.windows = new Int32Array(this.capacity).fill(-1);
    this.countFroms = new Int32Array(this.capacity).fill(-1);
    this.tokens = allocate(NAME, 'tokens', this.capacity * this.seqLen, (n) => new Int32Array(n));
    this.documentIds = new Array<string>(this.capacity).fill('');
  }

  /** Sequences currently referenced (with or without content yet). */
  get size(): number {
    return this.live;
  }

  /** Adds `times` references to `sequenceId` (a tally of a whole batch applies them at once). */
  retain(sequenceId: number, times = 1): void {
    let slot = this.index.get(sequenceId);
    if (slot < 0) {
      checkSequenceId(NAME, sequenceId);
      slot = this.allocateSlot();
      this.index.add(sequenceId, slot);
      this.slotIds[slot] = sequenceId;
      this.live++;
    }
    this.referenceCounts[slot]! += times;
  }

  /** Removes `times` references; the last one frees the sequence's slot. */
  release(sequenceId: number, times = 1): void {
    const slot = this.index.get(sequenceId);
    if (slot < 0 || this.referenceCounts[slot]! < times)
      throw new Error(
        `${NAME}: release of sequence ${sequenceId}, which is not referenced ${times} time(s) (unbalanced retain/release)`,
      );
    this.referenceCounts[slot]! -= times;
    if (this.referenceCounts[slot]! > 0) return;
    this.index.delete(sequenceId);
    // Clear the slot so that the checkpoint bytes depend only on what is live, not on what was freed.
    this.slotIds[slot] = -1;
    this.hasContent[slot] = 0;
    this.lengths[slot] = 0;
    this.datasetIndexes[slot] = 0;
    this.splitIndexes[slot] = 0;
    this.windows[slot] = -1;
    this.countFroms[slot] = -1;
    this.tokens.fill(0, slot * this.seqLen, (slot + 1) * this.seqLen);
    this.documentIds[slot] = '';
    this.freeSlots[this.freeCount++] = slot;
    this.live--;
  }

  /** How many references `sequenceId` has (0 when not stored). */
  references(sequenceId: number): number {
    const slot = this.index.get(sequenceId);
    return slot < 0 ? 0 : this.referenceCounts[slot]!;
  }

  /** Whether the content of `sequenceId` is stored. */
  has(sequenceId: number): boolean {
    const slot = this.index.get(sequenceId);
    return slot >= 0 && this.hasContent[slot] === 1;
  }

  /**
   * Stores the content of `sequenceId` if some state refers to it and it is not stored yet; returns whether the
   * sequence is referenced (and so now stored). Content given twice must be the same: sequence ids are unique.
   */
  put(sequenceId: number, content: SequenceContent): boolean {
    const slot = this.index.get(sequenceId);
    if (slot < 0) return false;
    const { seqLen } = this;
    if (content.tokens.length !== seqLen) {
      throw new Error(
        `${NAME}: sequence ${sequenceId} has ${content.tokens.length} tokens, the store holds ${seqLen} per sequence`,
      );
    }
    const length = content.length ?? seqLen;
    if (!Number.isInteger(length) || length < 0 || length > seqLen)
      throw new Error(`${NAME}: sequence ${sequenceId} has length ${length}, outside [0, ${seqLen}]`);
    if (!Number.isInteger(content.datasetIndex) || content.datasetIndex < 0 || content.datasetIndex > 0x7fffffff) {
      throw new Error(`${NAME}: sequence ${sequenceId} has dataset index ${content.datasetIndex}`);
    }
    const window = optionalIndex(sequenceId, 'window', content.window, 0x7fffffff);
    const countFrom = optionalIndex(sequenceId, 'countFrom', content.countFrom, seqLen);
    const base = slot * seqLen;
    if (this.hasContent[slot] === 1) {
      let same =
        this.lengths[slot] === length &&
        this.datasetIndexes[slot] === content.datasetIndex &&
        this.documentIds[slot] === content.documentId &&
        this.splitNames[this.splitIndexes[slot]!] === content.split &&
        this.windows[slot] === window &&
        this.countFroms[slot] === countFrom;
      for (let t = 0; same && t < seqLen; t++) same = this.tokens[base + t] === content.tokens[t];
      if (!same)
        throw new Error(
          `${NAME}: sequence ${sequenceId} was given twice with different content; sequence ids must be unique`,
        );
      return true;
    }
    for (let t = 0; t < seqLen; t++) this.tokens[base + t] = content.tokens[t]!;
    this.lengths[slot] = length;
    this.datasetIndexes[slot] = content.datasetIndex;
    this.documentIds[slot] = content.documentId;
    this.splitIndexes[slot] = this.splitIndex(content.split);
    this.windows[slot] = window;
    this.countFroms[slot] = countFrom;
    this.hasContent[slot] = 1;
    return true;
  }

  /** The stored sequence, or undefined when it is not referenced or its content has not been given. */
  get(sequenceId: number): (SequenceRecord & SequencePlacement) | undefined {
    const slot = this.index.get(sequenceId);
    if (slot < 0 || this.hasContent[slot] !== 1) return undefined;
    const window = this.windows[slot]!;
    const countFrom = this.countFroms[slot]!;
    return {
      sequenceId,
      tokens: this.tokens.slice(slot * this.seqLen, (slot + 1) * this.seqLen),
      length: this.lengths[slot]!,
      datasetIndex: this.datasetIndexes[slot]!,
      documentId: this.documentIds[slot]!,
      split: this.splitNames[this.splitIndexes[slot]!]!,
      ...(window >= 0 ? { window } : {}),
      ...(countFrom >= 0 ? { countFrom } : {}),
    };
  }

  /**
   * The store's own arrays, indexed by `slotOf(id)`, for writers that copy many sequences into file columns without
   * a record object per row. Read-only views of live memory: use them before the store changes.
   */
  columns(): SequenceColumns {
    return {
      slotOf: (sequenceId) => {
        const slot = this.index.get(sequenceId);
        return slot >= 0 && this.hasContent[slot] === 1 ? slot : -1;
      },
      tokens: this.tokens,
      lengths: this.lengths,
      datasetIndexes: this.datasetIndexes,
      splitIndexes: this.splitIndexes,
      splitNames: this.splitNames,
      windows: this.windows,
      countFroms: this.countFroms,
      documentIds: this.documentIds,
    };
  }

  /** Referenced sequence ids, ascending. */
  ids(): number[] {
    const ids: number[] = [];
    for (let slot = 0; slot < this.highWater; slot++) if (this.slotIds[slot]! >= 0) ids.push(this.slotIds[slot]!);
    return ids.sort((a, b) => a - b);
  }

  /** Referenced sequence ids whose content was never given, ascending. */
  missing(): number[] {
    return this.ids().filter((id) => !this.has(id));
  }

  /**
   * Copies, from `other`, the content of every sequence this store refers to but lacks: after merging shard
   * states (which retains in this store the sequences they adopt), this brings the shard's tokens along. Returns
   * how many sequences it filled.
   */
  fillFrom(other: SequenceStore): number {
    if (other.seqLen !== this.seqLen)
      throw new Error(`${NAME}: cannot fill from a store of seqLen ${other.seqLen} into one of ${this.seqLen}`);
    let filled = 0;
    for (let slot = 0; slot < this.highWater; slot++) {
      const id = this.slotIds[slot]!;
      if (id < 0 || this.hasContent[slot] === 1) continue;
      const record = other.get(id);
      if (record) {
        this.put(id, record);
        filled++;
      }
    }
    return filled;
  }

  /** Checkpoint chunks (views of live memory: write them before the store changes). */
  toBuffers(): Uint8Array[] {
    const used = this.highWater;
    const documentIdBytes: Uint8Array[] = [];
    const documentIdEnds = new Uint32Array(used);
    const encoder = new TextEncoder();
    let end = 0;
    for (let slot = 0; slot < used; slot++) {
      const bytes = encoder.encode(this.documentIds[slot]!);
      documentIdBytes.push(bytes);
      end += bytes.length;
      documentIdEnds[slot] = end;
    }
    return encodeState(
      KIND,
      { seqLen: this.seqLen, highWater: used, freeCount: this.freeCount, live: this.live, splitNames: this.splitNames },
      {
        slotIds: this.slotIds.subarray(0, used),
        referenceCounts: this.referenceCounts.subarray(0, used),
        hasContent: this.hasContent.subarray(0, used),
        lengths: this.lengths.subarray(0, used),
        datasetIndexes: this.datasetIndexes.subarray(0, used),
        splitIndexes: this.splitIndexes.subarray(0, used),
        windows: this.windows.subarray(0, used),
        countFroms: this.countFroms.subarray(0, used),
        tokens: this.tokens.subarray(0, used * this.seqLen),
        freeSlots: this.freeSlots.subarray(0, this.freeCount),
        documentIdEnds,
        documentIdBytes: concatBytes(documentIdBytes, end),
      },
    );
  }

  /** Restores a store from `toBuffers()` output (one buffer or the chunks). */
  static fromBuffers(input: Uint8Array | readonly Uint8Array[]): SequenceStore {
    const state = decodeState(input, KIND);
    const seqLen = integerParam(state, KIND, 'seqLen', 1);
    const used = integerParam(state, KIND, 'highWater');
    const freeCount = integerParam(state, KIND, 'freeCount', 0, used);
    const live = integerParam(state, KIND, 'live', 0, used);
    const splitNames = state.params['splitNames'];
    if (!Array.isArray(splitNames) || !splitNames.every((name) => typeof name === 'string'))
      throw corruptCheckpoint(KIND, 'splitNames is not a list of strings');
    const store = new SequenceStore({ seqLen, initialCapacity: Math.max(used, 1) });
    store.slotIds.set(state.take('slotIds', 'f64', used));
    store.referenceCounts.set(state.take('referenceCounts', 'i32', used));
    store.hasContent.set(state.take('hasContent', 'u8', used));
    store.lengths.set(state.take('lengths', 'i32', used));
    store.datasetIndexes.set(state.take('datasetIndexes', 'i32', used));
    store.splitIndexes.set(state.take('splitIndexes', 'i32', used));
    store.windows.set(state.take('windows', 'i32', used));
    store.countFroms.set(state.take('countFroms', 'i32', used));
    store.tokens.set(state.take('tokens', 'i32', used * seqLen));
    store.freeSlots.set(state.take('freeSlots', 'i32', freeCount));
    const ends = state.take('documentIdEnds', 'u32', used);
    const bytes = state.take('documentIdBytes', 'u8', used === 0 ? 0 : ends[used - 1]!);
    const decoder = new TextDecoder();
    let start = 0;
    for (let slot = 0; slot < used; slot++) {
      if (ends[slot]! < start || ends[slot]! > bytes.length)
        throw corruptCheckpoint(KIND, 'document id offsets are out of order');
      store.documentIds[slot] = decoder.decode(bytes.subarray(start, ends[slot]!));
      start = ends[slot]!;
    }
    for (const name of splitNames as string[]) store.splitIndex(name);
    store.highWater = used;
    store.freeCount = freeCount;
    for (let slot = 0; slot < used; slot++) {
      const id = store.slotIds[slot]!;
      if (id < 0) continue;
      if (store.referenceCounts[slot]! <= 0)
        throw corruptCheckpoint(KIND, `sequence ${id} is stored with no reference`);
      store.index.add(id, slot);
      store.live++;
    }
    if (store.live !== live)
      throw corruptCheckpoint(KIND, `${store.live} live sequences where the header says ${live}`);
    return store;
  }

  private splitIndex(split: string): number {
    let index = this.splitByName.get(split);
    if (index === undefined) {
      if (typeof split !== 'string') throw new ExpgenError(`${NAME}: split must be a string, got ${String(split)}`);
      index = this.splitNames.length;
      this.splitNames.push(split);
      this.splitByName.set(split, index);
    }
    return index;
  }

  private allocateSlot(): number {
    if (this.freeCount > 0) return this.freeSlots[--this.freeCount]!;
    if (this.highWater === this.capacity) this.grow();
    return this.highWater++;
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    const grown = <T extends Int32Array | Float64Array | Uint8Array>(
      old: T,
      make: (n: number) => T,
      perSlot = 1,
    ): T => {
      const next = allocate(NAME, 'slots', capacity * perSlot, make);
      next.set(old);
      return next;
    };
    this.freeSlots = grown(this.freeSlots, (n) => new Int32Array(n));
    this.slotIds = grown(this.slotIds, (n) => new Float64Array(n).fill(-1));
    this.referenceCounts = grown(this.referenceCounts, (n) => new Int32Array(n));
    this.hasContent = grown(this.hasContent, (n) => new Uint8Array(n));
    this.lengths = grown(this.lengths, (n) => new Int32Array(n));
    this.datasetIndexes = grown(this.datasetIndexes, (n) => new Int32Array(n));
    this.splitIndexes = grown(this.splitIndexes, (n) => new Int32Array(n));
    this.windows = grown(this.windows, (n) => new Int32Array(n).fill(-1));
    this.countFroms = grown(this.countFroms, (n) => new Int32Array(n).fill(-1));
    this.tokens = grown(this.tokens, (n) => new Int32Array(n), this.seqLen);
    for (let slot = this.capacity; slot < capacity; slot++) this.documentIds.push('');
    this.capacity = capacity;
  }
}

/** An optional non-negative integer field of SequenceContent, stored as -1 when absent. */
function optionalIndex(sequenceId: number, field: string, value: number | undefined, max: number): number {
  if (value === undefined) return -1;
  if (!Number.isInteger(value) || value < 0 || value > max)
    throw new Error(`${NAME}: sequence ${sequenceId} has ${field} ${value}, outside [0, ${max}]`);
  return value;
}

function concatBytes(parts: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
