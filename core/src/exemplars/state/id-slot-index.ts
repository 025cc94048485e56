/**
 * A map from sequence id (non-negative safe integer) to slot number, in two typed arrays with open addressing and
 * linear probing. A JS `Map` would hold one heap entry per sequence and stops at 2^24 entries; this holds 12 bytes
 * per slot at load <= 1/2 and has no upper limit other than memory.
 */
export class IdSlotIndex {
  private keys: Float64Array;
  private slots: Int32Array;
  private mask: number;
  private count = 0;

  constructor(expected = 16) {
    let capacity = 16;
    while (capacity < expected * 2) capacity *= 2;
    this.keys = new Float64Array(capacity).fill(-1);
    this.slots = new Int32Array(capacity);
    this.mask = capacity - 1;
  }

  get size(): number {
    return this.count;
  }

  /** The slot of `id`, or -1. */
  get(id: number): number {
    const keys = this.keys;
    for (let at = this.home(id); ; at = (at + 1) & this.mask) {
      const key = keys[at]!;
      if (key === id) return this.slots[at]!;
      if (key === -1) return -1;
    }
  }

  /** Maps `id` to `slot`; `id` must not be present. */
  add(id: number, slot: number): void {
    if ((this.count + 1) * 2 > this.keys.length) this.grow();
    let at = this.home(id);
    while (this.keys[at] !== -1) at = (at + 1) & this.mask;
    this.keys[at] = id;
    this.slots[at] = slot;
    this.count++;
  }

  /** Removes `id` (backward-shift deletion, so no tombstones slow later lookups); returns whether it was present. */
  delete(id: number): boolean {
    const keys = this.keys;
    const mask = this.mask;
    let hole = this.home(id);
    while (keys[hole] !== id) {
      if (keys[hole] === -1) return false;
      hole = (hole + 1) & mask;
    }
    for (let next = (hole + 1) & mask; keys[next] !== -1; next = (next + 1) & mask) {
      const home = this.home(keys[next]!);
      // The entry at `next` may move into the hole only if its home is not cyclically within (hole, next].
      const stays = hole <= next ? hole < home && home <= next : hole < home || home <= next;
      if (stays) continue;
      keys[hole] = keys[next]!;
      this.slots[hole] = this.slots[next]!;
      hole = next;
    }
    keys[hole] = -1;
    this.count--;
    return true;
  }

  private home(id: number): number {
    // Mix both 32-bit halves (ids may exceed 2^32) with murmur3's finalizer.
    let h = (id >>> 0) ^ Math.imul(Math.floor(id / 4294967296) >>> 0, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) & this.mask;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldSlots = this.slots;
    this.keys = new Float64Array(oldKeys.length * 2).fill(-1);
    this.slots = new Int32Array(oldKeys.length * 2);
    this.mask = this.keys.length - 1;
    this.count = 0;
    for (let at = 0; at < oldKeys.length; at++) if (oldKeys[at] !== -1) this.add(oldKeys[at]!, oldSlots[at]!);
  }
}
