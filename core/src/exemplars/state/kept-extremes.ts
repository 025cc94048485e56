import { corruptCheckpoint } from './state-codec.js';
import { isShared, stateArray, type StateMemory } from './state-memory.js';
import { extremesRange, type SparseExtremes } from './sparse-pairs.js';

const NAME = 'ActivationDistribution';

/** The arrays behind one sign's kept extremes: what a checkpoint holds and what merge workers share. */
export interface ExtremeBufferArrays {
  readonly keys: Float32Array;
  readonly counts: Int32Array;
  readonly thresholds: Float32Array;
}

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
export class ExtremeBuffers implements ExtremeBufferArrays {
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
    arrays?: ExtremeBufferArrays,
    memory: StateMemory = 'private',
  ) {
    this.room = ExtremeBuffers.roomFor(keep);
    this.keys = arrays?.keys ?? stateArray(NAME, 'kept extremes', Float32Array, features * this.room, memory);
    this.counts = arrays?.counts ?? stateArray(NAME, 'counts', Int32Array, features, memory);
    if (arrays?.thresholds) {
      this.thresholds = arrays.thresholds;
    } else {
      this.thresholds = stateArray(NAME, 'thresholds', Float32Array, features, memory);
      this.thresholds.fill(-Infinity);
    }
  }

  /** The arrays, for a merge worker to attach to (shared memory only). */
  arrays(): ExtremeBufferArrays {
    const { keys, counts, thresholds } = this;
    if (!isShared(keys, counts, thresholds))
      throw new Error(`${NAME}: only extremes in shared memory can be handed to a merge worker`);
    return { keys, counts, thresholds };
  }

  /**
   * Takes feature f's keys from `values[start, end)` (one feature's values, in stream order), keeping those above
   * the threshold. The stream order matters only to the buffer's internal order, which nothing reads.
   */
  addAll(f: number, values: Float32Array, start: number, end: number, direction: 1 | -1): void {
    const { keys, counts, thresholds, room } = this;
    let threshold = thresholds[f]!;
    for (let i = start; i < end; i++) {
      const key = values[i]! * direction;
      if (key > threshold) {
        const count = counts[f]!;
        keys[f * room + count] = key;
        counts[f] = count + 1;
        if (count + 1 === room) {
          this.select(f);
          threshold = thresholds[f]!;
        }
      }
    }
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

  /**
   * Takes one sign's sparse extremes of features [from, to) (index feature * rows + row, ascending), feature by
   * feature in stream order, as `addAll` does.
   */
  addSparse(extremes: SparseExtremes, rows: number, from: number, to: number, direction: 1 | -1): void {
    const { index, values } = extremes;
    const [start, end] = extremesRange(extremes, rows, from, to);
    for (let i = start; i < end; ) {
      const f = Math.floor(index[i]! / rows);
      // The feature's entries end where the index reaches the next feature's first row.
      const limit = (f + 1) * rows;
      let next = i + 1;
      while (next < end && index[next]! < limit) next++;
      this.addAll(f, values, i, next, direction);
      i = next;
    }
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

/** Rejects restored buffers that break the admission rule (a damaged checkpoint would otherwise merge wrongly). */
export function checkExtremeBuffers(buffers: ExtremeBuffers, name: string): void {
  for (let f = 0; f < buffers.features; f++) {
    const count = buffers.counts[f]!;
    if (count < 0 || count >= buffers.room)
      throw corruptCheckpoint('activation-distribution', `${name} count of feature ${f} is ${count}`);
    const threshold = buffers.thresholds[f]!;
    if (threshold !== -Infinity && count < buffers.keep)
      throw corruptCheckpoint(
        'activation-distribution',
        `${name} of feature ${f} holds ${count} keys after a selection`,
      );
    const base = f * buffers.room;
    for (let i = 0; i < count; i++) {
      if (!(buffers.keys[base + i]! >= threshold))
        throw corruptCheckpoint('activation-distribution', `${name} of feature ${f} holds a key below its threshold`);
    }
  }
}
