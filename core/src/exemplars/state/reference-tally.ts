import type { SequenceReferences, SequenceStore } from './sequence-store.js';

/**
 * The references a batch's merge adds and removes, counted per sequence instead of applied one by one, so that
 * merge workers can each tally their feature ranges and the main thread apply the sum to the one SequenceStore.
 *
 * `applyTo` applies every retain (ids ascending) before any release (ids ascending). Within one batch a sequence
 * is only retained when it is a row of the batch, and released only after it was retained (in this batch or an
 * earlier one), so retaining first never lets a count reach zero early; and the order is a function of the sums
 * alone, so any number of workers, in any order, leaves the store — slots included — byte-identical.
 */
export class ReferenceTally implements SequenceReferences {
  private readonly retains = new Map<number, number>();
  private readonly releases = new Map<number, number>();

  retain(sequenceId: number): void {
    this.retains.set(sequenceId, (this.retains.get(sequenceId) ?? 0) + 1);
  }

  release(sequenceId: number): void {
    this.releases.set(sequenceId, (this.releases.get(sequenceId) ?? 0) + 1);
  }

  /** The tally as flat [id, count, id, count, ...] arrays, to post from a worker thread. */
  toArrays(): { retains: Float64Array; releases: Float64Array } {
    const flat = (counts: Map<number, number>) => {
      const out = new Float64Array(2 * counts.size);
      let at = 0;
      for (const [id, count] of counts) {
        out[at++] = id;
        out[at++] = count;
      }
      return out;
    };
    return { retains: flat(this.retains), releases: flat(this.releases) };
  }

  /** Adds another tally (a worker's `toArrays`). */
  add(other: { retains: Float64Array; releases: Float64Array }): void {
    for (const [flat, counts] of [
      [other.retains, this.retains],
      [other.releases, this.releases],
    ] as const) {
      for (let i = 0; i < flat.length; i += 2) counts.set(flat[i]!, (counts.get(flat[i]!) ?? 0) + flat[i + 1]!);
    }
  }

  /** Applies the tally to `store` in the canonical order (retains, then releases, each by ascending id) and clears it. */
  applyTo(store: SequenceStore): void {
    const ascending = (counts: Map<number, number>) => [...counts.entries()].sort((a, b) => a[0] - b[0]);
    for (const [id, count] of ascending(this.retains)) store.retain(id, count);
    for (const [id, count] of ascending(this.releases)) store.release(id, count);
    this.retains.clear();
    this.releases.clear();
  }
}
