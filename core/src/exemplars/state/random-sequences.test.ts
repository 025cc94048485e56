import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RandomSequences, selectionHash } from './random-sequences.js';
import { SequenceStore } from './sequence-store.js';
import { concatChunks } from './state-codec.js';

function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FEATURES = 3;
const SEQ_LEN = 4;
const COUNT = 5;

/** Values that identify (id, token, feature), so a misplaced copy shows. */
function valuesOf(id: number): Float32Array {
  const values = new Float32Array(SEQ_LEN * FEATURES);
  for (let t = 0; t < SEQ_LEN; t++) for (let f = 0; f < FEATURES; f++) values[t * FEATURES + f] = id * 100 + t * 10 + f;
  return values;
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const random = generator(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function make(seed: number | bigint = 7, references?: SequenceStore): RandomSequences {
  return new RandomSequences({
    features: FEATURES,
    seqLen: SEQ_LEN,
    count: COUNT,
    seed,
    ...(references ? { references } : {}),
  });
}

function bytes(state: RandomSequences): Uint8Array {
  return concatChunks(state.toBuffers());
}

const IDS = Array.from({ length: 200 }, (_, i) => i * 3 + 1);

describe('selectionHash', () => {
  it('is splitmix64: with seed 0, ids 0 and 1 give its first two outputs', () => {
    assert.equal(selectionHash(0, 0), 0xe220a8397b1dcdafn);
    assert.equal(selectionHash(0, 1), 0x6e789e6aa1b965f4n);
    assert.equal(selectionHash(42, 7), 0x272404a0a3926552n);
  });
});

describe('RandomSequences', () => {
  it('keeps the R ids with the smallest hash, whatever the order they come in', () => {
    const expected = [...IDS]
      .sort((a, b) => {
        const ha = selectionHash(7, a);
        const hb = selectionHash(7, b);
        return ha < hb ? -1 : ha > hb ? 1 : a - b;
      })
      .slice(0, COUNT);
    for (const seed of [1, 2, 3]) {
      const state = make();
      for (const id of shuffled(IDS, seed)) state.offer(id, valuesOf(id));
      assert.deepEqual(state.sequenceIds(), expected, `order ${seed}`);
    }
    const other = make(8);
    for (const id of IDS) other.offer(id, valuesOf(id));
    assert.notDeepEqual(other.sequenceIds(), expected, 'another seed selects other sequences');
  });

  it("returns each feature's per-token values of the held sequences", () => {
    const state = make();
    for (const id of IDS) state.offer(id, valuesOf(id));
    for (let f = 0; f < FEATURES; f++) {
      const entries = state.entries(f);
      assert.deepEqual(
        entries.map((entry) => entry.sequenceId),
        state.sequenceIds(),
      );
      for (const entry of entries)
        assert.deepEqual(
          Array.from(entry.activations),
          [0, 1, 2, 3].map((t) => entry.sequenceId * 100 + t * 10 + f),
        );
    }
  });

  it('wouldAdmit says before the forward pass exactly which offers would be kept', () => {
    const state = make();
    for (const id of shuffled(IDS, 4)) {
      const predicted = state.wouldAdmit(id);
      assert.equal(state.offer(id, valuesOf(id)), predicted, `id ${id}`);
      assert.equal(state.wouldAdmit(id), false, 'a held id is not admitted again');
    }
  });

  it('merging two shards equals one stream over both, and leaves reference counts right', () => {
    const store = new SequenceStore({ seqLen: SEQ_LEN });
    const whole = make();
    for (const id of IDS) whole.offer(id, valuesOf(id));
    const a = make(7, store);
    const b = make(7, new SequenceStore({ seqLen: SEQ_LEN }));
    for (const id of IDS) (id % 2 === 0 ? a : b).offer(id, valuesOf(id));
    a.merge(b);
    assert.deepEqual(a.sequenceIds(), whole.sequenceIds());
    for (let f = 0; f < FEATURES; f++) assert.deepEqual(a.entries(f), whole.entries(f));
    assert.deepEqual(
      store.ids(),
      [...whole.sequenceIds()].sort((x, y) => x - y),
    );
    assert.throws(() => a.merge(make(8)), /seed 8/);
    const before = bytes(a);
    assert.throws(() => a.merge(b), /in both selections/);
    assert.deepEqual(bytes(a), before);
  });

  it('restores byte-exactly; restore + more offers equals the uninterrupted state', () => {
    const whole = make(123n);
    for (const id of IDS) whole.offer(id, valuesOf(id));
    const first = make(123n);
    for (const id of IDS.slice(0, 50)) first.offer(id, valuesOf(id));
    const checkpoint = bytes(first);
    const restored = RandomSequences.fromBuffers(checkpoint);
    assert.deepEqual(bytes(restored), checkpoint);
    for (const id of IDS.slice(50)) restored.offer(id, valuesOf(id));
    assert.deepEqual(bytes(restored), bytes(whole));
  });

  it('rejects duplicates, wrong shapes and bad ids', () => {
    const state = make();
    state.offer(5, valuesOf(5));
    assert.throws(() => state.offer(5, valuesOf(5)), /offered twice/);
    assert.throws(() => state.offer(6, new Float32Array(3)), /expected seqLen 4 x 3 features = 12/);
    assert.throws(() => state.wouldAdmit(-1), /not a non-negative safe integer/);
    assert.throws(() => make(1.5), /seed 1.5/);
  });
});
