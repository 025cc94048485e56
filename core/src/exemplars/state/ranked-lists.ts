import type { SequenceReferences } from './sequence-store.js';
import type { Sign } from '@expgen/contract';
import { corruptCheckpoint } from './state-codec.js';
import { isShared, stateArray, type StateMemory } from './state-memory.js';

const NAME = 'TopKExemplars';

/** The arrays behind one sign's lists: what a checkpoint holds and what merge workers share. */
export interface RankedListArrays {
  readonly keys: Float32Array;
  readonly ids: Float64Array;
  readonly slots: Int32Array;
  readonly activations: Float32Array;
  readonly counts: Int32Array;
  readonly worstKeys: Float32Array;
}

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
export class RankedLists implements RankedListArrays {
  readonly keys: Float32Array;
  readonly ids: Float64Array;
  readonly slots: Int32Array;
  readonly activations: Float32Array;
  readonly counts: Int32Array;
  /** Key of each feature's worst (k-th) entry, -Infinity while it holds fewer than k: the threshold in key space. */
  readonly worstKeys: Float32Array;

  /**
   * Empty lists in `memory`; or lists over `arrays` as they are (a restored checkpoint, or a merge worker attaching
   * to shared memory): `worstKeys` is derived from them unless given (a worker shares the main thread's).
   */
  constructor(
    readonly features: number,
    readonly k: number,
    readonly seqLen: number,
    arrays?: Omit<RankedListArrays, 'worstKeys'> & { readonly worstKeys?: Float32Array },
    memory: StateMemory = 'private',
  ) {
    this.keys = arrays?.keys ?? stateArray(NAME, 'ranked keys', Float32Array, features * k, memory);
    this.ids = arrays?.ids ?? stateArray(NAME, 'ranked ids', Float64Array, features * k, memory);
    this.slots = arrays?.slots ?? stateArray(NAME, 'slot indexes', Int32Array, features * k, memory);
    this.activations =
      arrays?.activations ?? stateArray(NAME, 'per-token activations', Float32Array, features * k * seqLen, memory);
    this.counts = arrays?.counts ?? stateArray(NAME, 'counts', Int32Array, features, memory);
    if (arrays?.worstKeys) {
      this.worstKeys = arrays.worstKeys;
    } else {
      this.worstKeys = stateArray(
        NAME,
        'worst keys',
        Float32Array,
        features,
        isShared(this.keys) ? 'shared' : 'private',
      );
      this.worstKeys.fill(-Infinity);
      for (let f = 0; f < features; f++) if (this.counts[f] === k) this.worstKeys[f] = this.keys[f * k]!;
    }
  }

  /** The arrays, for a merge worker to attach to (shared memory only). */
  arrays(): RankedListArrays {
    const { keys, ids, slots, activations, counts, worstKeys } = this;
    if (!isShared(keys, ids, slots, activations, counts, worstKeys))
      throw new Error(`${NAME}: only lists in shared memory can be handed to a merge worker`);
    return { keys, ids, slots, activations, counts, worstKeys };
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
    const order = new Int32Array(this.k);
    return Array.from(order.subarray(0, this.rankOrderInto(f, order)));
  }

  /**
   * Writes feature f's heap positions in rank order into `order` (length >= k) and returns how many: an insertion
   * sort for small lists (file writers call this for every feature, so no allocation and no comparator calls).
   */
  rankOrderInto(f: number, order: Int32Array): number {
    const base = f * this.k;
    const count = this.counts[f]!;
    const { keys, ids } = this;
    for (let i = 0; i < count; i++) {
      const at = base + i;
      const key = keys[at]!;
      const id = ids[at]!;
      let j = i;
      // Move worse entries (smaller key, or equal key and larger id) one place right.
      for (; j > 0; j--) {
        const other = order[j - 1]!;
        const otherKey = keys[other]!;
        if (otherKey > key || (otherKey === key && ids[other]! < id)) break;
        order[j] = other;
      }
      order[j] = at;
    }
    return count;
  }

  /** Offset of the activations of the entry at heap position `at`. */
  activationOffset(f: number, at: number): number {
    return (f * this.k + this.slots[at]!) * this.seqLen;
  }
}

/** Rejects a restored list whose counts, heap order or slots are inconsistent (a damaged or hand-edited checkpoint). */
export function checkRestored(lists: RankedLists, sign: Sign): void {
  const { k, keys, ids } = lists;
  const used = new Uint8Array(k);
  for (let f = 0; f < lists.features; f++) {
    const count = lists.counts[f]!;
    if (count < 0 || count > k) throw corruptCheckpoint('top-k-exemplars', `${sign} count of feature ${f} is ${count}`);
    used.fill(0);
    const base = f * k;
    for (let i = 0; i < count; i++) {
      const slot = lists.slots[base + i]!;
      if (slot < 0 || slot >= count || used[slot] === 1)
        throw corruptCheckpoint('top-k-exemplars', `${sign} slots of feature ${f} are not a permutation`);
      used[slot] = 1;
      if (i > 0) {
        const parent = base + ((i - 1) >> 1);
        const child = base + i;
        // The parent must be worse than the child (smaller key, or equal key and larger id).
        if (!(keys[parent]! < keys[child]! || (keys[parent] === keys[child] && ids[parent]! > ids[child]!))) {
          throw corruptCheckpoint('top-k-exemplars', `${sign} entries of feature ${f} are not a heap`);
        }
      }
    }
  }
}
