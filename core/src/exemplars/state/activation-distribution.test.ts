import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ActivationDistribution, TAIL_FRACTIONS, selectDescending } from './activation-distribution.js';
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

const FEATURES = 5;
const KEEP = 7;
const BINS = { low: -2, high: 2, bins: 8 };

interface Batch {
  max: Float32Array;
  min: Float32Array;
  tokens: number;
}

/** Extremes on a 0.25 grid (ties, exact bin edges, values outside the histogram), some rows with no counted position. */
function makeBatches(count: number, rows: number, seed: number): Batch[] {
  const random = generator(seed);
  const batches: Batch[] = [];
  for (let i = 0; i < count; i++) {
    const max = new Float32Array(rows * FEATURES);
    const min = new Float32Array(rows * FEATURES);
    for (let j = 0; j < max.length; j++) {
      const a = Math.round(random() * 24 - 12) / 4;
      const b = Math.round(random() * 24 - 12) / 4;
      max[j] = Math.max(a, b);
      min[j] = Math.min(a, b);
      if (random() < 0.05) {
        max[j] = -Infinity;
        min[j] = Infinity;
      }
    }
    batches.push({ max, min, tokens: rows * 95 });
  }
  return batches;
}

function make(keep = KEEP): ActivationDistribution {
  return new ActivationDistribution({ features: FEATURES, keep, histogram: BINS });
}

function bytes(state: ActivationDistribution): Uint8Array {
  return concatChunks(state.toBuffers());
}

function column(batches: readonly Batch[], f: number, which: 'max' | 'min'): number[] {
  return batches.flatMap((batch) => Array.from(batch[which]).filter((_, i) => i % FEATURES === f));
}

/** The state's content, independent of heap layout. */
function content(state: ActivationDistribution): unknown {
  const features = [];
  for (let f = 0; f < FEATURES; f++) {
    features.push(
      ['positive', 'negative'].map((sign) => ({
        sorted: Array.from(state.sortedExtremes(f, sign as 'positive')),
        histogram: Array.from(state.histogram(f, sign as 'positive')),
      })),
    );
  }
  return { features, tokens: state.tokensSeen, sequences: state.sequencesSeen };
}

/**
 * The reference's `approximate_quantile` (numpy) for one feature, ported line by line: top values sorted
 * ascending have cumulative probability (N - k + i) / N, bottom values i / N, i = 1..k.
 */
function referenceQuantile(
  q: number,
  N: number,
  bottomAscending: readonly number[],
  topAscending: readonly number[],
): number | null {
  const k = topAscending.length;
  const range = (from: number) => Array.from({ length: k }, (_, i) => (from + i + 1) / N);
  let p: number[];
  let values: readonly number[];
  if (1 / N <= q && q <= k / N) {
    p = range(0);
    values = bottomAscending;
  } else if ((N - k + 1) / N <= q && q <= 1) {
    p = range(N - k);
    values = topAscending;
  } else return null;
  let index = p.filter((x) => x <= q).length - 1;
  index = Math.min(Math.max(index, 0), k - 2);
  const fraction = (values[index + 1]! - values[index]!) / (p[index + 1]! - p[index]!);
  return p[index + 1] === p[index] ? values[index]! : values[index]! + fraction * (q - p[index]!);
}

describe('selectDescending', () => {
  it('puts the value of each rank in place, larger before and smaller after, on data with many ties', () => {
    const random = generator(11);
    for (const [size, levels] of [
      [5, 3],
      [40, 4],
      [300, 1000],
      [2000, 7],
      [2000, 1e6],
    ] as const) {
      for (let trial = 0; trial < 5; trial++) {
        const values = Float32Array.from({ length: size }, () => Math.floor(random() * levels));
        const sorted = values.slice().sort().reverse();
        const at = Math.floor(random() * size);
        const a = new Float32Array(size + 6).fill(-1);
        a.set(values, 3);
        selectDescending(a, 3, 3 + size, 3 + at);
        assert.equal(a[3 + at], sorted[at]);
        for (let i = 3; i < 3 + at; i++) assert.ok(a[i]! >= a[3 + at]!);
        for (let i = 3 + at + 1; i < 3 + size; i++) assert.ok(a[i]! <= a[3 + at]!);
        assert.deepEqual(a.slice(3, 3 + size).sort(), values.slice().sort(), 'a permutation');
        assert.deepEqual(Array.from(a.subarray(0, 3)), [-1, -1, -1], 'nothing outside the range moves');
      }
    }
  });

  it('stays exact on sorted and constant input', () => {
    for (const values of [
      Float32Array.from({ length: 500 }, (_, i) => i),
      Float32Array.from({ length: 500 }, (_, i) => -i),
      new Float32Array(500).fill(2),
    ]) {
      const a = values.slice();
      selectDescending(a, 0, a.length, 99);
      assert.equal(a[99], values.slice().sort().reverse()[99]);
    }
  });
});

describe('ActivationDistribution', () => {
  it('keeps exactly the M largest maxima and M smallest minima, and counts every extreme in its bin', () => {
    const batches = makeBatches(40, 16, 1);
    const state = make();
    for (const batch of batches) state.offer(batch);
    assert.equal(state.sequencesSeen, 640);
    assert.equal(state.tokensSeen, 640 * 95);
    for (let f = 0; f < FEATURES; f++) {
      const maxima = column(batches, f, 'max').filter((v) => v !== -Infinity);
      const minima = column(batches, f, 'min').filter((v) => v !== Infinity);
      assert.deepEqual(
        Array.from(state.sortedExtremes(f, 'positive')),
        [...maxima].sort((a, b) => b - a).slice(0, KEEP),
      );
      assert.deepEqual(
        Array.from(state.sortedExtremes(f, 'negative')),
        [...minima].sort((a, b) => a - b).slice(0, KEEP),
      );
      for (const [sign, values] of [
        ['positive', maxima],
        ['negative', minima],
      ] as const) {
        const expected = new Array<number>(BINS.bins + 2).fill(0);
        for (const v of values)
          expected[v < BINS.low ? 0 : v >= BINS.high ? BINS.bins + 1 : 1 + Math.floor((v - BINS.low) / 0.5)]!++;
        assert.deepEqual(Array.from(state.histogram(f, sign)), expected, `feature ${f} ${sign}`);
      }
    }
  });

  it('holds fewer than M while the stream is short', () => {
    const state = make(1000);
    state.offer(makeBatches(1, 3, 2)[0]!);
    assert.ok(state.kept(0, 'positive') <= 3);
    assert.equal(state.sortedExtremes(0, 'positive').length, state.kept(0, 'positive'));
  });

  it('merging two halves equals one stream', () => {
    const batches = makeBatches(30, 8, 3);
    const whole = make();
    for (const batch of batches) whole.offer(batch);
    const a = make();
    const b = make();
    batches.forEach((batch, i) => {
      (i % 3 === 0 ? a : b).offer(batch);
    });
    a.merge(b);
    assert.deepEqual(content(a), content(whole));
    assert.throws(
      () => a.merge(new ActivationDistribution({ features: FEATURES, keep: KEEP, histogram: { ...BINS, bins: 9 } })),
      /cannot merge/,
    );
  });

  it('restores byte-exactly; restore + more batches equals the uninterrupted state', () => {
    const batches = makeBatches(30, 8, 4);
    const whole = make();
    for (const batch of batches) whole.offer(batch);
    const first = make();
    for (const batch of batches.slice(0, 12)) first.offer(batch);
    const checkpoint = bytes(first);
    const restored = ActivationDistribution.fromBuffers(checkpoint);
    assert.deepEqual(bytes(restored), checkpoint);
    for (const batch of batches.slice(12)) restored.offer(batch);
    assert.deepEqual(bytes(restored), bytes(whole));
  });

  it('estimates tail quantiles by rank interpolation (hand-computed)', () => {
    // One feature; maxima 1..10 and minima -1..-10 over N = 10,000 tokens; M = 5 keeps 10..6 and -10..-6.
    const state = new ActivationDistribution({ features: 1, keep: 5, histogram: BINS });
    state.offer({
      max: Float32Array.from({ length: 10 }, (_, i) => i + 1),
      min: Float32Array.from({ length: 10 }, (_, i) => -(i + 1)),
      tokens: 10_000,
    });
    // Positive: position r = q N in the maxima sorted descending [10, 9, 8, 7, 6].
    assert.equal(state.tailQuantile(0, 1e-4, 'positive'), 9); // r = 1
    assert.equal(state.tailQuantile(0, 2.5e-4, 'positive'), 7.5); // r = 2.5, halfway from 8 to 7
    assert.ok(Math.abs(state.tailQuantile(0, 1e-5, 'positive')! - 9.9) < 1e-12); // r = 0.1
    assert.equal(state.tailQuantile(0, 4e-4, 'positive'), 6); // r = 4 = n - 1, the last kept
    assert.equal(state.tailQuantile(0, 4.5e-4, 'positive'), null); // beyond the kept maxima
    // Negative: position r - 1 in the minima sorted ascending [-10, -9, -8, -7, -6].
    assert.equal(state.tailQuantile(0, 1e-4, 'negative'), -10); // r = 1
    assert.equal(state.tailQuantile(0, 2.5e-4, 'negative'), -8.5); // r = 2.5
    assert.equal(state.tailQuantile(0, 5e-4, 'negative'), -6); // r = 5 = n
    assert.equal(state.tailQuantile(0, 5.5e-4, 'negative'), null);
    assert.equal(state.tailQuantile(0, 1e-5, 'negative'), null); // r = 0.1 < 1: below the reference's range
    assert.throws(() => state.tailQuantile(0, 0, 'positive'), /\(0, 1\)/);
    assert.equal(make().tailQuantile(0, 1e-4, 'positive'), null, 'nothing seen');
  });

  it("agrees with the reference's approximate_quantile on random data", () => {
    const random = generator(5);
    const state = new ActivationDistribution({ features: 1, keep: 50, histogram: BINS });
    const rows = 400;
    const max = Float32Array.from({ length: rows }, () => Math.fround(random() * 10));
    const min = Float32Array.from({ length: rows }, () => Math.fround(-random() * 10));
    state.offer({ max, min, tokens: 123_457 });
    const top = Array.from(state.sortedExtremes(0, 'positive')).reverse();
    const bottom = Array.from(state.sortedExtremes(0, 'negative'));
    let compared = 0;
    for (const q of [...TAIL_FRACTIONS, 3e-4, 2e-4, 1.5e-4]) {
      const positive = state.tailQuantile(0, q, 'positive');
      const negative = state.tailQuantile(0, q, 'negative');
      const refPositive = referenceQuantile(1 - q, state.tokensSeen, bottom, top);
      const refNegative = referenceQuantile(q, state.tokensSeen, bottom, top);
      for (const [ours, theirs] of [
        [positive, refPositive],
        [negative, refNegative],
      ] as const) {
        assert.equal(ours === null, theirs === null, `q ${q}: ${ours} vs ${theirs}`);
        if (ours !== null) {
          assert.ok(Math.abs(ours - theirs!) < 1e-6, `q ${q}: ${ours} vs ${theirs}`);
          compared++;
        }
      }
    }
    assert.ok(compared >= 8);
  });

  it("gated extremes and a histogram sample give the kept extremes of every value and the sample's histogram", () => {
    const batches = makeBatches(30, 6, 31);
    const dense = new ActivationDistribution({ features: FEATURES, keep: KEEP, histogram: BINS });
    const sparse = new ActivationDistribution({
      features: FEATURES,
      keep: KEEP,
      histogram: BINS,
      histogramSample: 0.25,
    });
    const sampleOnly = new ActivationDistribution({ features: FEATURES, keep: KEEP, histogram: BINS });
    let id = 0;
    for (const batch of batches) {
      dense.offer(batch);
      const rows = batch.max.length / FEATURES;
      const ids = Array.from({ length: rows }, () => id++);
      // What a gated forward returns: the extremes beyond the state's thresholds, and the sampled rows dense.
      const gate = sparse.thresholds();
      const pick = (values: Float32Array, passes: (v: number, f: number) => boolean) => {
        const out = { index: [] as number[], values: [] as number[] };
        for (let f = 0; f < FEATURES; f++)
          for (let r = 0; r < rows; r++) {
            const v = values[r * FEATURES + f]!;
            if (passes(v, f)) out.index.push(f * rows + r), out.values.push(v);
          }
        return { index: Int32Array.from(out.index), values: Float32Array.from(out.values) };
      };
      const sampled = ids.flatMap((sequence, r) => (sparse.inHistogramSample(sequence) ? [r] : []));
      const rowsOf = (values: Float32Array) =>
        Float32Array.from(sampled.flatMap((r) => Array.from(values.subarray(r * FEATURES, (r + 1) * FEATURES))));
      sparse.offerSparse(
        {
          rows,
          maxima: pick(batch.max, (v, f) => !(v <= gate.top[f]!)),
          minima: pick(batch.min, (v, f) => !(v >= gate.bottom[f]!)),
          sample: { rows: sampled.length, max: rowsOf(batch.max), min: rowsOf(batch.min) },
        },
        batch.tokens,
      );
      sampleOnly.offer({ max: rowsOf(batch.max), min: rowsOf(batch.min), tokens: 0 });
    }
    assert.equal(sparse.sequencesSeen, dense.sequencesSeen);
    assert.equal(sparse.tokensSeen, dense.tokensSeen);
    for (let f = 0; f < FEATURES; f++) {
      for (const sign of ['positive', 'negative'] as const) {
        assert.deepEqual(sparse.sortedExtremes(f, sign), dense.sortedExtremes(f, sign), 'the same kept extremes');
        for (const q of TAIL_FRACTIONS) assert.equal(sparse.tailQuantile(f, q, sign), dense.tailQuantile(f, q, sign));
        assert.deepEqual(sparse.histogram(f, sign), sampleOnly.histogram(f, sign), "the sample's histogram");
      }
    }
    const sampledCount = sparse.histogram(0, 'positive').reduce((a, b) => a + b, 0);
    assert.ok(sampledCount > 20 && sampledCount < 70, `about a quarter of 180 sequences are sampled (${sampledCount})`);
  });

  it('rejects NaN extremes without counting any of the batch', () => {
    const state = make();
    state.offer(makeBatches(1, 4, 6)[0]!);
    const before = bytes(state);
    const batch = makeBatches(1, 4, 7)[0]!;
    batch.min[7] = Number.NaN;
    assert.throws(() => state.offer(batch), /NaN as the per-sequence min of feature 2 \(row 1\)/);
    assert.deepEqual(bytes(state), before);
  });

  it('rejects bad options and shapes with messages that name them', () => {
    assert.throws(
      () => new ActivationDistribution({ features: 2, keep: 0, histogram: BINS }),
      /option "keep" must be an integer >= 1/,
    );
    assert.throws(
      () => new ActivationDistribution({ features: 2, keep: 3, histogram: { low: 1, high: 1, bins: 4 } }),
      /finite low < high/,
    );
    const state = make();
    assert.throws(
      () => state.offer({ max: new Float32Array(7), min: new Float32Array(7), tokens: 1 }),
      /whole number of rows of 5 features/,
    );
    assert.throws(() => state.offer({ max: new Float32Array(5), min: new Float32Array(5), tokens: -1 }), /tokens/);
    assert.deepEqual(Array.from(state.binEdges()), [-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2]);
  });
});
