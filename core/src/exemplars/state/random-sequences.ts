import { corruptCheckpoint, decodeState, encodeState, integerParam } from './state-codec.js';
import { checkCount, checkSequenceId } from './checks.js';
import type { SequenceReferences } from './sequence-store.js';
import { stateArray, type StateMemory } from './state-memory.js';

export interface RandomSequencesOptions {
  readonly features: number;
  readonly seqLen: number;
  /** R: how many random sequences to keep (20 in the reference). */
  readonly count: number;
  /** Seed of the selection hash; the same seed and ids select the same sequences. */
  readonly seed: number | bigint;
  /** Told about every sequence that enters or leaves the selection. */
  readonly references?: SequenceReferences;
  /** `shared`: the per-token values live in a SharedArrayBuffer, for merge workers (default `private`). */
  readonly memory?: StateMemory;
}

export interface RandomSequence {
  readonly sequenceId: number;
  /** Per-token activations of one feature, `seqLen` of them (a copy). */
  readonly activations: Float32Array;
}

const KIND = 'random-sequences';
const NAME = 'RandomSequences';
const MASK64 = (1n << 64n) - 1n;
const GOLDEN_GAMMA = 0x9e3779b97f4a7c15n;

/** splitmix64's output function (Stafford's "Mix13"): a bijection on 64-bit words with full avalanche. */
function mix64(value: bigint): bigint {
  let z = value & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

function seedWord(seed: number | bigint): bigint {
  if (typeof seed === 'bigint') return seed & MASK64;
  if (!Number.isSafeInteger(seed)) throw new Error(`${NAME}: seed ${String(seed)} must be a safe integer or a bigint`);
  return BigInt(seed) & MASK64;
}

/**
 * The selection hash of a sequence: splitmix64's (id + 1)-th output for the state `mix64(seed)`, i.e.
 * mix64(mix64(seed) + (id + 1) * 0x9e3779b97f4a7c15 mod 2^64). It depends only on the seed and the id (never on
 * processing order or sharding), and premixing the seed keeps the selections of nearby seeds unrelated.
 */
export function selectionHash(seed: number | bigint, sequenceId: number): bigint {
  return mix64(mix64(seedWord(seed)) + BigInt(sequenceId + 1) * GOLDEN_GAMMA);
}

/**
 * The R random sequences of one split: those with the smallest selection hash, with every feature's per-token
 * activations on them. For a fixed seed the hash is a bijection of the id (an odd multiplier mod 2^64, then a
 * bijective mix), so distinct ids never tie; the order still falls back to the id, to be total by construction.
 *
 * The same R sequences serve every feature. Choosing independently per feature would need every token's value of
 * every feature on the host for every sequence; one shared choice needs full values for at most R rows ever, and
 * because the hash depends only on the id, the host asks `wouldAdmit(id)` before a forward pass and requests full
 * per-token values for just those rows. The choice is a function of the set of ids offered, so any order, any
 * sharding and `merge` give the same selection.
 *
 * Memory: R x seqLen x features x 4 bytes (20 x 95 x 14,336 x 4 = 109 MB for one Llama-3.1-8B layer).
 */
export class RandomSequences {
  readonly features: number;
  readonly seqLen: number;
  readonly count: number;
  readonly seed: bigint;
  private readonly references: SequenceReferences | undefined;
  private readonly premixedSeed: bigint;
  /** Rank order: ascending (hash, id). */
  private readonly hashes: BigUint64Array;
  private readonly ids: Float64Array;
  private readonly slots: Int32Array;
  /** Slot s holds values [seqLen, features] at s * seqLen * features, the layout of one row of a `full` result. */
  private readonly values: Float32Array;
  private held = 0;

  constructor(options: RandomSequencesOptions) {
    this.features = checkCount(NAME, 'features', options.features);
    this.seqLen = checkCount(NAME, 'seqLen', options.seqLen);
    this.count = checkCount(NAME, 'count', options.count);
    this.seed = seedWord(options.seed);
    this.premixedSeed = mix64(this.seed);
    this.references = options.references;
    this.hashes = new BigUint64Array(this.count);
    this.ids = new Float64Array(this.count);
    this.slots = new Int32Array(this.count);
    this.values = stateArray(
      NAME,
      'per-token values',
      Float32Array,
      this.count * this.seqLen * this.features,
      options.memory ?? 'private',
    );
  }

  /** The per-token values [slots, seqLen, features], for merge workers (`copyColumns`). */
  get valueArray(): Float32Array {
    return this.values;
  }

  /** How many sequences are held (R once R have been offered). */
  get size(): number {
    return this.held;
  }

  /** The selection hash of `sequenceId` under this state's seed. */
  hashOf(sequenceId: number): bigint {
    checkSequenceId(NAME, sequenceId);
    return mix64(this.premixedSeed + BigInt(sequenceId + 1) * GOLDEN_GAMMA);
  }

  /**
   * Whether `offer(sequenceId, ...)` would keep the sequence now. Ask before the forward pass and request full
   * per-token values only for rows that would enter; a row that would not enter now never will (the selection only
   * gets stricter), so nothing is missed.
   */
  wouldAdmit(sequenceId: number): boolean {
    const hash = this.hashOf(sequenceId);
    const rank = this.rankOf(hash, sequenceId);
    if (rank < this.held && this.hashes[rank] === hash && this.ids[rank] === sequenceId) return false;
    return rank < this.count;
  }

  /**
   * Offers a sequence with its per-token values of every feature, row-major [seqLen, features] (one row of a
   * `full` hook result; padded positions NaN). Returns whether it was kept.
   */
  offer(sequenceId: number, perTokenValues: Float32Array): boolean {
    const expected = this.seqLen * this.features;
    if (perTokenValues.length !== expected) {
      throw new Error(
        `${NAME}: sequence ${sequenceId} has ${perTokenValues.length} values, expected seqLen ${this.seqLen} x ${this.features} features = ${expected}`,
      );
    }
    const slot = this.admit(sequenceId);
    if (slot >= 0)
      copyColumns(this.values, this.features, this.seqLen, slot, perTokenValues, this.features, null, 0, this.features);
    return slot >= 0;
  }

  /**
   * Enters `sequenceId` in the selection if it belongs there, telling the references, and returns the slot its
   * per-token values go to (`copyColumns`), or -1. The main thread decides the selection; merge workers copy the
   * values of their feature ranges into the slot.
   */
  admit(sequenceId: number, references: SequenceReferences | undefined = this.references): number {
    return this.insert(this.hashOf(sequenceId), sequenceId, references);
  }

  /** Held sequence ids, in selection order (ascending hash). */
  sequenceIds(): number[] {
    return Array.from(this.ids.subarray(0, this.held));
  }

  /** Feature f's activations on every held sequence, in selection order. */
  entries(feature: number): RandomSequence[] {
    if (!Number.isInteger(feature) || feature < 0 || feature >= this.features)
      throw new Error(`${NAME}: feature ${feature} is outside [0, ${this.features})`);
    const { seqLen, features } = this;
    const out: RandomSequence[] = [];
    for (let rank = 0; rank < this.held; rank++) {
      const activations = new Float32Array(seqLen);
      const base = this.slots[rank]! * seqLen * features + feature;
      for (let t = 0; t < seqLen; t++) activations[t] = this.values[base + t * features]!;
      out.push({ sequenceId: this.ids[rank]!, activations });
    }
    return out;
  }

  /** The held sequences' ids and value slots, in selection order (views of the state: read them at once). */
  selection(): { readonly ids: Float64Array; readonly slots: Int32Array } {
    return { ids: this.ids.subarray(0, this.held), slots: this.slots.subarray(0, this.held) };
  }

  /**
   * Visits every held sequence in selection order without copying: feature f's value at position t is
   * `values[offset + t * stride]` (a view of the state). For writers that build file columns straight from it.
   */
  forEachHeld(
    feature: number,
    visit: (sequenceId: number, values: Float32Array, offset: number, stride: number) => void,
  ): void {
    if (!Number.isInteger(feature) || feature < 0 || feature >= this.features)
      throw new Error(`${NAME}: feature ${feature} is outside [0, ${this.features})`);
    for (let rank = 0; rank < this.held; rank++)
      visit(this.ids[rank]!, this.values, this.slots[rank]! * this.seqLen * this.features + feature, this.features);
  }

  /** Adds another shard's selection; afterwards this state is exactly the selection over both streams. */
  merge(other: RandomSequences): void {
    if (other === this) throw new Error(`${NAME}: cannot merge a state with itself`);
    if (
      other.features !== this.features ||
      other.seqLen !== this.seqLen ||
      other.count !== this.count ||
      other.seed !== this.seed
    ) {
      throw new Error(
        `${NAME}: cannot merge a selection of ${other.count} over ${other.features} x ${other.seqLen} with seed ${other.seed} into one of ${this.count} over ${this.features} x ${this.seqLen} with seed ${this.seed}`,
      );
    }
    // Overlap is found before anything changes, so a failed merge leaves this state as it was.
    for (let rank = 0; rank < other.held; rank++) {
      const at = this.rankOf(other.hashes[rank]!, other.ids[rank]!);
      if (at < this.held && this.ids[at] === other.ids[rank])
        throw new Error(`${NAME}: sequence ${other.ids[rank]} is in both selections; shards must not overlap`);
    }
    const rowSize = this.seqLen * this.features;
    for (let rank = 0; rank < other.held; rank++) {
      const slot = this.insert(other.hashes[rank]!, other.ids[rank]!);
      if (slot < 0) break;
      const from = other.slots[rank]! * rowSize;
      this.values.set(other.values.subarray(from, from + rowSize), slot * rowSize);
    }
  }

  /** Checkpoint chunks (views of live memory: write them before the state changes). */
  toBuffers(): Uint8Array[] {
    return encodeState(
      KIND,
      { features: this.features, seqLen: this.seqLen, count: this.count, seed: this.seed.toString(), held: this.held },
      { hashes: this.hashes, ids: this.ids, slots: this.slots, values: this.values },
    );
  }

  /** Restores a state from `toBuffers()`; reference counts come back with the SequenceStore's checkpoint. */
  static fromBuffers(
    input: Uint8Array | readonly Uint8Array[],
    options: { references?: SequenceReferences; memory?: StateMemory } = {},
  ): RandomSequences {
    const state = decodeState(input, KIND);
    const features = integerParam(state, KIND, 'features', 1);
    const seqLen = integerParam(state, KIND, 'seqLen', 1);
    const count = integerParam(state, KIND, 'count', 1);
    const held = integerParam(state, KIND, 'held', 0, count);
    const seedText = state.params['seed'];
    if (typeof seedText !== 'string' || !/^\d+$/.test(seedText))
      throw corruptCheckpoint(KIND, `seed is ${JSON.stringify(seedText)}`);
    const restored = new RandomSequences({
      features,
      seqLen,
      count,
      seed: BigInt(seedText),
      ...(options.references ? { references: options.references } : {}),
      ...(options.memory ? { memory: options.memory } : {}),
    });
    restored.hashes.set(state.take('hashes', 'u64', count));
    restored.ids.set(state.take('ids', 'f64', count));
    restored.slots.set(state.take('slots', 'i32', count));
    restored.values.set(state.take('values', 'f32', count * seqLen * features));
    restored.held = held;
    for (let rank = 0; rank < held; rank++) {
      if (restored.hashes[rank] !== restored.hashOf(restored.ids[rank]!))
        throw corruptCheckpoint(KIND, `sequence ${restored.ids[rank]} does not have its selection hash`);
      if (rank > 0 && restored.rankOf(restored.hashes[rank]!, restored.ids[rank]!) !== rank)
        throw corruptCheckpoint(KIND, 'the selection is out of order');
    }
    return restored;
  }

  /** Number of held entries that come before (hash, id). */
  private rankOf(hash: bigint, id: number): number {
    let low = 0;
    let high = this.held;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const other = this.hashes[middle]!;
      if (other < hash || (other === hash && this.ids[middle]! < id)) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** Enters (hash, id) at its rank if it is among the R smallest; returns its values' slot, or -1. */
  private insert(hash: bigint, id: number, references = this.references): number {
    const rank = this.rankOf(hash, id);
    if (rank < this.held && this.hashes[rank] === hash && this.ids[rank] === id) {
      throw new Error(`${NAME}: sequence ${id} is offered twice; sequence ids must be unique across shards`);
    }
    if (rank >= this.count) return -1;
    let slot: number;
    let evicted = -1;
    if (this.held === this.count) {
      evicted = this.ids[this.count - 1]!;
      slot = this.slots[this.count - 1]!;
      this.shiftFrom(rank, this.count - 1);
    } else {
      slot = this.held;
      this.shiftFrom(rank, this.held);
      this.held++;
    }
    this.hashes[rank] = hash;
    this.ids[rank] = id;
    this.slots[rank] = slot;
    if (references) {
      references.retain(id);
      if (evicted >= 0) references.release(evicted);
    }
    return slot;
  }

  /** Moves ranks [rank, end) one place down. */
  private shiftFrom(rank: number, end: number): void {
    this.hashes.copyWithin(rank + 1, rank, end);
    this.ids.copyWithin(rank + 1, rank, end);
    this.slots.copyWithin(rank + 1, rank, end);
  }
}

/**
 * Copies features [from, to) of one sequence's per-token values into a selection slot of `values`
 * ([slots, seqLen, features]). `source` is [seqLen, sourceWidth]; `columns[f]` is feature f's column there (null:
 * column f). Disjoint feature ranges touch disjoint elements, so merge workers copy one row in parallel.
 */
export function copyColumns(
  values: Float32Array,
  features: number,
  seqLen: number,
  slot: number,
  source: Float32Array,
  sourceWidth: number,
  columns: Int32Array | null,
  from: number,
  to: number,
): void {
  for (let t = 0; t < seqLen; t++) {
    const into = (slot * seqLen + t) * features;
    const row = t * sourceWidth;
    if (columns === null) values.set(source.subarray(row + from, row + to), into + from);
    else for (let f = from; f < to; f++) values[into + f] = source[row + columns[f]!]!;
  }
}
