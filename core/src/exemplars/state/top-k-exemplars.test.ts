import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reduceOnHost, type Sign } from '@expgen/contract';
import { Sfc32 } from '@expgen/plugin-kit';
import { TopKExemplars, type GatedBatch, type SparseGatedBatch } from './top-k-exemplars.js';
import { ReferenceTally } from './reference-tally.js';
import { SequenceStore } from './sequence-store.js';
import { concatChunks } from './state-codec.js';

/** Uniform floats from expgen's seeded generator, so every test sees the same data. */
function generator(seed: number): () => number {
  const random = new Sfc32(seed);
  return () => random.nextFloat();
}

interface Row {
  id: number;
  /** [seqLen, features] */
  full: Float32Array;
  length: number;
}

const FEATURES = 7;
const SEQ_LEN = 5;
const K = 4;
const COUNT_FROM = 1;

/** Rows with values on a coarse grid (many ties) and random lengths (padding, and rows with no counted position). */
function makeRows(count: number, seed: number, firstId = 0, idStep = 1): Row[] {
  const random = generator(seed);
  const rows: Row[] = [];
  for (let i = 0; i < count; i++) {
    const full = new Float32Array(SEQ_LEN * FEATURES);
    // `+ 0` turns -0 into 0: the host reduction and Math.min/max disagree on which zero is the extreme.
    for (let j = 0; j < full.length; j++) full[j] = Math.round(random() * 8 - 4) / 2 + 0;
    rows.push({ id: firstId + i * idStep, full, length: 1 + Math.floor(random() * SEQ_LEN) });
  }
  return rows;
}

/** The batch a subject returns for `rows`, gated with `thresholds` (reduceOnHost is the reference semantics). */
function gatedBatch(rows: readonly Row[], thresholds: { top: Float32Array; bottom: Float32Array }): GatedBatch {
  const full = new Float32Array(rows.length * SEQ_LEN * FEATURES);
  rows.forEach((row, b) => {
    full.set(row.full, b * SEQ_LEN * FEATURES);
  });
  const result = reduceOnHost(
    full,
    {
      batch: rows.length,
      seqLen: SEQ_LEN,
      width: FEATURES,
      lengths: Int32Array.from(rows.map((row) => row.length)),
      countFrom: new Int32Array(rows.length).fill(COUNT_FROM),
    },
    { hook: 'mlp/0', reduce: 'gated', thresholds },
  );
  return {
    sequenceIds: rows.map((row) => row.id),
    max: result.max!,
    min: result.min!,
    gated: result.gated!,
    seqLen: SEQ_LEN,
  };
}

/** The batch a subject returns with gated extremes, the extremes gate equal to the top-k gate. */
function sparseBatch(rows: readonly Row[], thresholds: { top: Float32Array; bottom: Float32Array }): SparseGatedBatch {
  const full = new Float32Array(rows.length * SEQ_LEN * FEATURES);
  rows.forEach((row, b) => {
    full.set(row.full, b * SEQ_LEN * FEATURES);
  });
  const result = reduceOnHost(
    full,
    {
      batch: rows.length,
      seqLen: SEQ_LEN,
      width: FEATURES,
      lengths: Int32Array.from(rows.map((row) => row.length)),
      countFrom: new Int32Array(rows.length).fill(COUNT_FROM),
    },
    { hook: 'mlp/0', reduce: 'gated', thresholds, extremeThresholds: thresholds },
  );
  const gated = result.gated!;
  return {
    sequenceIds: rows.map((row) => row.id),
    seqLen: SEQ_LEN,
    gated: { ...gated, max: gated.max!, min: gated.min! },
    maxima: result.extremes!.maxima,
    minima: result.extremes!.minima,
  };
}

/** Feeds rows in batches of `batchSize`, gating each batch with the state's current thresholds. */
function stream(state: TopKExemplars, rows: readonly Row[], batchSize: number): void {
  for (let i = 0; i < rows.length; i += batchSize)
    state.offer(gatedBatch(rows.slice(i, i + batchSize), state.thresholds()));
}

/** The reference: every row's extreme and per-token values for feature f, fully sorted, best k kept. */
function expected(
  rows: readonly Row[],
  f: number,
  sign: Sign,
  k = K,
): { sequenceId: number; extreme: number; activations: number[] }[] {
  const all = rows.map((row) => {
    let extreme = sign === 'positive' ? -Infinity : Infinity;
    const activations: number[] = [];
    for (let t = 0; t < SEQ_LEN; t++) {
      const value = row.full[t * FEATURES + f]!;
      activations.push(t < row.length ? value : Number.NaN);
      if (t >= COUNT_FROM && t < row.length)
        extreme = sign === 'positive' ? Math.max(extreme, value) : Math.min(extreme, value);
    }
    return { sequenceId: row.id, extreme, activations };
  });
  return all
    .filter((entry) => Number.isFinite(entry.extreme))
    .sort(
      (a, b) => (sign === 'positive' ? b.extreme - a.extreme : a.extreme - b.extreme) || a.sequenceId - b.sequenceId,
    )
    .slice(0, k);
}

function actual(
  state: TopKExemplars,
  f: number,
  sign: Sign,
): { sequenceId: number; extreme: number; activations: number[] }[] {
  return state.entries(f, sign).map((entry) => ({
    sequenceId: entry.sequenceId,
    extreme: entry.extreme,
    activations: Array.from(entry.activations),
  }));
}

function assertMatchesFullSort(state: TopKExemplars, rows: readonly Row[]): void {
  for (let f = 0; f < FEATURES; f++) {
    for (const sign of ['positive', 'negative'] as const)
      assert.deepEqual(actual(state, f, sign), expected(rows, f, sign, state.k), `feature ${f} ${sign}`);
  }
}

function bytes(state: { toBuffers(): Uint8Array[] }): Uint8Array {
  return concatChunks(state.toBuffers());
}

describe('TopKExemplars', () => {
  it('equals a full sort of all sequences, ties broken by smaller id', () => {
    const rows = makeRows(60, 1);
    const state = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    stream(state, rows, 6);
    assertMatchesFullSort(state, rows);
  });

  it('equals a full sort for k = 1 and for k larger than the stream', () => {
    const rows = makeRows(40, 21);
    for (const k of [1, 100]) {
      const state = new TopKExemplars({ features: FEATURES, k, seqLen: SEQ_LEN });
      stream(state, rows, 8);
      assertMatchesFullSort(state, rows);
    }
  });

  it('does not depend on the order of the gated pairs within a batch', () => {
    const rows = makeRows(40, 22);
    const sorted = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    const shuffled = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    for (let i = 0; i < rows.length; i += 8) {
      const batch = gatedBatch(rows.slice(i, i + 8), sorted.thresholds());
      sorted.offer(batch);
      const { rows: pairRows, features, values } = batch.gated;
      const order = Array.from(pairRows, (_, j) => j).reverse();
      const reordered = new Float32Array(values.length);
      order.forEach((j, n) => {
        reordered.set(values.subarray(j * SEQ_LEN, (j + 1) * SEQ_LEN), n * SEQ_LEN);
      });
      shuffled.offer({
        ...batch,
        gated: {
          rows: Int32Array.from(order, (j) => pairRows[j]!),
          features: Int32Array.from(order, (j) => features[j]!),
          values: reordered,
        },
      });
    }
    for (let f = 0; f < FEATURES; f++)
      for (const sign of ['positive', 'negative'] as const)
        assert.deepEqual(actual(shuffled, f, sign), actual(sorted, f, sign));
  });

  it('is exact with stale (looser) thresholds, as a pipelined host gives', () => {
    const rows = makeRows(60, 2);
    const state = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    let thresholds = state.thresholds();
    for (let i = 0; i < rows.length; i += 5) {
      const next = state.thresholds(); // taken before this batch is offered: one batch behind
      state.offer(gatedBatch(rows.slice(i, i + 5), thresholds));
      thresholds = next;
    }
    assertMatchesFullSort(state, rows);
  });

  it('gives -Infinity / +Infinity thresholds while filling, then the k-th value', () => {
    const rows = makeRows(2, 3);
    const state = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    stream(state, rows, 2);
    const { top, bottom } = state.thresholds();
    assert.deepEqual(Array.from(top), new Array(FEATURES).fill(-Infinity));
    assert.deepEqual(Array.from(bottom), new Array(FEATURES).fill(Infinity));
    const more = makeRows(30, 4, 10);
    stream(state, more, 7);
    const after = state.thresholds();
    for (let f = 0; f < FEATURES; f++) {
      assert.equal(after.top[f], state.entries(f, 'positive')[K - 1]!.extreme);
      assert.equal(after.bottom[f], state.entries(f, 'negative')[K - 1]!.extreme);
    }
  });

  it('merging two shards (interleaved ids) equals one stream over both', () => {
    const even = makeRows(40, 5, 0, 2);
    const odd = makeRows(40, 6, 1, 2);
    const a = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    const b = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    stream(a, even, 8);
    stream(b, odd, 3);
    a.merge(b);
    const all = [...even, ...odd].sort((x, y) => x.id - y.id);
    assertMatchesFullSort(a, all);
    assert.equal(a.lastSequenceId, 79);
    assert.throws(() => a.merge(a), /itself/);
  });

  it('rejects merging overlapping shards', () => {
    const rows = makeRows(10, 7);
    const a = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    const b = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    stream(a, rows, 5);
    stream(b, rows, 5);
    const before = bytes(a);
    assert.throws(() => a.merge(b), /sequence \d+ is in both states/);
    assert.deepEqual(bytes(a), before, 'a failed merge changes nothing');
  });

  it("keeps the sequence store's reference counts equal to how many lists hold each sequence", () => {
    const store = new SequenceStore({ seqLen: SEQ_LEN, initialCapacity: 2 });
    const state = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN, references: store });
    const rows = makeRows(50, 8);
    for (let i = 0; i < rows.length; i += 5) {
      const batch = rows.slice(i, i + 5);
      state.offer(gatedBatch(batch, state.thresholds()));
      for (const row of batch)
        store.put(row.id, {
          tokens: new Int32Array(SEQ_LEN).fill(row.id),
          datasetIndex: 0,
          documentId: `doc-${row.id}`,
          split: 'train',
        });
    }
    const multiplicity = new Map<number, number>();
    for (let f = 0; f < FEATURES; f++) {
      for (const sign of ['positive', 'negative'] as const)
        for (const id of state.sequenceIds(f, sign)) multiplicity.set(id, (multiplicity.get(id) ?? 0) + 1);
    }
    assert.deepEqual(
      store.ids(),
      [...multiplicity.keys()].sort((x, y) => x - y),
    );
    for (const [id, count] of multiplicity) assert.equal(store.references(id), count);
    assert.deepEqual(store.missing(), []);
    for (const id of store.ids()) assert.equal(store.get(id)?.documentId, `doc-${id}`);
  });

  it('merges shards with their own sequence stores into one store that holds exactly what the lists refer to', () => {
    const put = (store: SequenceStore, batch: readonly Row[]) => {
      for (const row of batch)
        store.put(row.id, {
          tokens: new Int32Array(SEQ_LEN).fill(row.id),
          datasetIndex: 1,
          documentId: `doc-${row.id}`,
          split: 'valid',
        });
    };
    const shard = (rows: readonly Row[]) => {
      const store = new SequenceStore({ seqLen: SEQ_LEN });
      const state = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN, references: store });
      for (let i = 0; i < rows.length; i += 4) {
        const batch = rows.slice(i, i + 4);
        state.offer(gatedBatch(batch, state.thresholds()));
        put(store, batch);
      }
      return { store, state };
    };
    const a = shard(makeRows(30, 23, 0, 2));
    const b = shard(makeRows(30, 24, 1, 2));
    a.state.merge(b.state);
    a.store.fillFrom(b.store);
    assert.deepEqual(a.store.missing(), []);
    const multiplicity = new Map<number, number>();
    for (let f = 0; f < FEATURES; f++) {
      for (const sign of ['positive', 'negative'] as const)
        for (const id of a.state.sequenceIds(f, sign)) multiplicity.set(id, (multiplicity.get(id) ?? 0) + 1);
    }
    assert.deepEqual(
      a.store.ids(),
      [...multiplicity.keys()].sort((x, y) => x - y),
    );
    for (const [id, count] of multiplicity) {
      assert.equal(a.store.references(id), count);
      assert.equal(a.store.get(id)?.documentId, `doc-${id}`);
    }
  });

  it('restores byte-exactly, and restore + more batches equals the uninterrupted state', () => {
    const rows = makeRows(60, 9);
    const whole = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    stream(whole, rows, 6);

    const first = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    stream(first, rows.slice(0, 30), 6);
    const checkpoint = bytes(first);
    const restored = TopKExemplars.fromBuffers(checkpoint);
    assert.deepEqual(bytes(restored), checkpoint);
    const fromChunks = TopKExemplars.fromBuffers(first.toBuffers());
    assert.deepEqual(bytes(fromChunks), checkpoint);
    stream(restored, rows.slice(30), 6);
    assert.deepEqual(bytes(restored), bytes(whole));
  });

  it('gated extremes give the state dense extremes give', () => {
    const rows = makeRows(60, 22);
    const dense = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    stream(dense, rows, 6);
    const sparse = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    for (let i = 0; i < rows.length; i += 6) sparse.offerSparse(sparseBatch(rows.slice(i, i + 6), sparse.thresholds()));
    assert.deepEqual(bytes(sparse), bytes(dense));
  });

  it('merges feature ranges separately, from views of shared memory, into the state one merge makes', () => {
    const rows = makeRows(60, 23);
    const store = new SequenceStore({ seqLen: SEQ_LEN });
    const whole = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN, references: store });
    const tallied = new SequenceStore({ seqLen: SEQ_LEN });
    const shared = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN, memory: 'shared' });
    const views = [TopKExemplars.attach(shared.handles()), TopKExemplars.attach(shared.handles())];
    const content = (id: number) => ({
      tokens: new Int32Array(SEQ_LEN),
      datasetIndex: 0,
      documentId: `d${id}`,
      split: 'train',
    });
    for (let i = 0; i < rows.length; i += 5) {
      const batch = sparseBatch(rows.slice(i, i + 5), whole.thresholds());
      whole.offerSparse(batch);
      for (const row of rows.slice(i, i + 5)) store.put(row.id, content(row.id));
      shared.checkBatch(batch);
      // Two workers' ranges, merged in the opposite order; each worker tallies its own references.
      const tallies = [new ReferenceTally(), new ReferenceTally()];
      views[1]!.mergeRange(batch, 3, FEATURES, tallies[1]);
      views[0]!.mergeRange(batch, 0, 3, tallies[0]);
      shared.commitBatch(batch);
      const sum = new ReferenceTally();
      for (const tally of tallies) sum.add(tally.toArrays());
      sum.applyTo(tallied);
      for (const row of rows.slice(i, i + 5)) tallied.put(row.id, content(row.id));
    }
    assert.deepEqual(bytes(shared), bytes(whole));
    assert.deepEqual(tallied.ids(), store.ids());
    for (const id of store.ids()) assert.equal(tallied.references(id), store.references(id), `references of ${id}`);
  });

  it('rejects ids that do not increase, and leaves the state unchanged', () => {
    const state = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    stream(state, makeRows(6, 10, 100), 6);
    const before = bytes(state);
    assert.throws(() => state.offer(gatedBatch(makeRows(3, 11, 50), state.thresholds())), /does not increase past 105/);
    assert.throws(
      () => state.offer(gatedBatch([...makeRows(1, 12, 200), ...makeRows(1, 13, 200)], state.thresholds())),
      /does not increase past 200/,
    );
    assert.deepEqual(bytes(state), before);
  });

  it('rejects a batch gated with thresholds tighter than its own, naming the sequence and feature', () => {
    const state = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    stream(state, makeRows(20, 14), 5);
    const before = bytes(state);
    const tight = {
      top: new Float32Array(FEATURES).fill(Infinity),
      bottom: new Float32Array(FEATURES).fill(-Infinity),
    };
    // A row with a new record maximum on every feature must enter, but the batch carries no values for it.
    const record: Row = { id: 1000, full: new Float32Array(SEQ_LEN * FEATURES).fill(50), length: SEQ_LEN };
    assert.throws(
      () => state.offer(gatedBatch([record], tight)),
      /sequence 1000 \(row 0\) belongs in feature 0's top-k list .* no per-token values/,
    );
    assert.deepEqual(bytes(state), before);
  });

  it('rejects NaN extremes and malformed batches', () => {
    const state = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    const batch = gatedBatch(makeRows(2, 15), state.thresholds());
    const max = batch.max.slice();
    max[3] = Number.NaN;
    assert.throws(() => state.offer({ ...batch, max }), /NaN as the per-sequence max of feature 3 on sequence 0/);
    assert.throws(() => state.offer({ ...batch, seqLen: SEQ_LEN + 1 }), /seqLen/);
    assert.throws(() => state.offer({ ...batch, min: batch.min.subarray(1) }), /max\/min have/);
    const rows = batch.gated.rows.slice();
    rows[0] = 9;
    assert.throws(() => state.offer({ ...batch, gated: { ...batch.gated, rows } }), /outside 2 x 7/);
    assert.equal(state.lastSequenceId, -1);
    assert.throws(
      () => new TopKExemplars({ features: 0, k: K, seqLen: SEQ_LEN }),
      /option "features" must be an integer >= 1, got 0/,
    );
  });

  it('reports how many pairs it took and inserted', () => {
    const state = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    const batch = gatedBatch(makeRows(3, 16), state.thresholds());
    const summary = state.offer(batch);
    let held = 0;
    for (let f = 0; f < FEATURES; f++) held += state.count(f, 'positive');
    assert.equal(summary.positiveInsertions, held, 'k > rows, so nothing was displaced');
    assert.equal(summary.gatedPairs, batch.gated.rows.length);
  });

  it('rejects damaged checkpoints with a message that says what to do', () => {
    const state = new TopKExemplars({ features: FEATURES, k: K, seqLen: SEQ_LEN });
    stream(state, makeRows(10, 17), 5);
    const checkpoint = bytes(state);
    assert.throws(
      () => TopKExemplars.fromBuffers(checkpoint.subarray(0, checkpoint.length - 8)),
      /unusable: .*delete it/,
    );
    const damaged = checkpoint.slice();
    damaged[0] = 0;
    assert.throws(() => TopKExemplars.fromBuffers(damaged), /does not start with EXPGENST/);
  });
});
