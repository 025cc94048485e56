import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bootstrapCI, bootstrapMeanCI, quantileSorted } from './bootstrap.js';
import { pooledPearson } from './pooled.js';
import { Sfc32 } from '../seeded-random.js';
import type { ScoreSet } from './types.js';

const mean = (xs: readonly number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;

/** 20 sequences of 5 tokens; actual = predicted + a small deterministic wobble, so r is high and stable. */
function cleanSet(): ScoreSet {
  const rng = new Sfc32(99);
  return Array.from({ length: 20 }, () => {
    const predicted = Array.from({ length: 5 }, () => rng.nextInt(11));
    const actual = predicted.map((p) => 0.7 * p + 0.5 * (rng.nextFloat() - 0.5));
    return { predicted, actual };
  });
}

describe('quantileSorted (type 7)', () => {
  it('interpolates between order statistics', () => {
    // [1, 2, 3, 4]: h = 3q. q = 0.5 → h = 1.5 → 2 + 0.5·1 = 2.5; q = 0.025 → h = 0.075 → 1.075; q = 1 → 4.
    assert.equal(quantileSorted([1, 2, 3, 4], 0.5), 2.5);
    assert.ok(Math.abs(quantileSorted([1, 2, 3, 4], 0.025) - 1.075) < 1e-12);
    assert.equal(quantileSorted([1, 2, 3, 4], 1), 4);
    assert.equal(quantileSorted([1, 2, 3, 4], 0), 1);
    assert.equal(quantileSorted([7], 0.3), 7);
    assert.throws(() => quantileSorted([], 0.5), RangeError);
    assert.throws(() => quantileSorted([1], 1.5), RangeError);
  });
});

describe('bootstrapCI', () => {
  it('is determined by the seed', () => {
    const set = cleanSet();
    const a = bootstrapCI(set, pooledPearson, { resamples: 300, seed: 5 });
    const b = bootstrapCI(set, pooledPearson, { resamples: 300, seed: 5 });
    const c = bootstrapCI(set, pooledPearson, { resamples: 300, seed: 6 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  it('contains the point estimate on a clean case, and a wider level gives a wider interval', () => {
    const set = cleanSet();
    const r = pooledPearson(set)!;
    const ci = bootstrapCI(set, pooledPearson, { resamples: 1000, seed: 1 })!;
    assert.ok(ci.low <= r && r <= ci.high, `${r} outside [${ci.low}, ${ci.high}]`);
    assert.ok(ci.high - ci.low < 0.05 && ci.low > 0.9, JSON.stringify(ci));
    assert.equal(ci.level, 0.95);
    assert.equal(ci.resamples, 1000);
    assert.equal(ci.undefinedResamples, 0);
    const narrow = bootstrapCI(set, pooledPearson, { resamples: 1000, seed: 1, level: 0.5 })!;
    assert.ok(narrow.low >= ci.low && narrow.high <= ci.high && narrow.high - narrow.low < ci.high - ci.low);
  });

  it('draws units with replacement in a documented order: resample by resample, one nextInt(n) per position', () => {
    const seen: number[][] = [];
    bootstrapCI([10, 11, 12, 13, 14], (s) => (seen.push([...s]), 0), { resamples: 3, seed: 8 });
    const rng = new Sfc32(8);
    const expected = Array.from({ length: 3 }, () => Array.from({ length: 5 }, () => 10 + rng.nextInt(5)));
    assert.deepEqual(seen, expected);
  });

  it('percentile interval of a two-unit mean: means 0, ½, 1 with probability ¼, ½, ¼ → [0, 1] at 95%', () => {
    const ci = bootstrapCI([0, 1], mean, { resamples: 2000, seed: 3 })!;
    assert.deepEqual([ci.low, ci.high], [0, 1]);
    const half = bootstrapCI([0, 1], mean, { resamples: 2000, seed: 3, level: 0.2 })!;
    assert.deepEqual([half.low, half.high], [0.5, 0.5]);
  });

  it('drops and counts resamples where the statistic is undefined', () => {
    let nulls = 0;
    // Null whenever the first drawn unit is 0 (probability ¼).
    const stat = (s: readonly number[]) => (s[0] === 0 ? (nulls++, null) : mean(s));
    const ci = bootstrapCI([0, 1, 2, 3], stat, { resamples: 1000, seed: 4 })!;
    assert.equal(ci.undefinedResamples, nulls);
    assert.ok(nulls > 180 && nulls < 320, `${nulls}`);
    assert.equal(ci.resamples, 1000);
  });

  it('null when fewer than half the resamples are defined, or fewer than 2 units', () => {
    assert.equal(
      bootstrapCI([1, 2, 3], () => null, { resamples: 100, seed: 1 }),
      null,
    );
    // Null unless the first drawn unit is 0 (defined with probability ¼ < ½).
    assert.equal(
      bootstrapCI([0, 1, 2, 3], (s) => (s[0] === 0 ? 1 : null), { resamples: 1000, seed: 1 }),
      null,
    );
    assert.equal(bootstrapCI([1], mean, { resamples: 100, seed: 1 }), null);
    assert.equal(bootstrapCI([], mean, { resamples: 100, seed: 1 }), null);
  });

  it("strata keep each group's size in every resample", () => {
    const units = ['top', 'top', 'top', 'random', 'random'];
    const counts = new Set<number>();
    bootstrapCI(units, (s) => (counts.add(s.filter((u) => u === 'random').length), 0), {
      resamples: 200,
      seed: 2,
      strata: units,
    });
    assert.deepEqual([...counts], [2]);
    const free = new Set<number>();
    bootstrapCI(units, (s) => (free.add(s.filter((u) => u === 'random').length), 0), { resamples: 200, seed: 2 });
    assert.ok(free.size > 1);
    assert.throws(() => bootstrapCI(units, () => 0, { resamples: 10, seed: 2, strata: ['a'] }), RangeError);
  });

  it('refuses bad options and NaN statistics', () => {
    assert.throws(() => bootstrapCI([1, 2], mean, { resamples: 0, seed: 1 }), RangeError);
    assert.throws(() => bootstrapCI([1, 2], mean, { resamples: 10, seed: -1 }), RangeError);
    assert.throws(() => bootstrapCI([1, 2], mean, { resamples: 10, seed: 1, level: 1 }), RangeError);
    assert.throws(() => bootstrapCI([1, 2], () => Number.NaN, { resamples: 10, seed: 1 }), /must be null/);
  });
});

describe('bootstrapMeanCI', () => {
  const mean = (values: readonly number[]) => {
    let sum = 0;
    for (const v of values) sum += v;
    return sum / values.length;
  };

  it('equals bootstrapCI of the mean to the bit, at every size and seed', () => {
    const rng = new Sfc32(11);
    for (const n of [0, 1, 2, 3, 17, 1000, 40_000]) {
      const values = Array.from({ length: n }, () => rng.nextFloat() * 2 - 1);
      for (const seed of [0, 7]) {
        const options = { resamples: n > 1000 ? 50 : 400, seed, level: seed ? 0.9 : 0.95 };
        assert.deepEqual(bootstrapMeanCI(values, options), bootstrapCI(values, mean, options), `n ${n} seed ${seed}`);
      }
    }
  });

  it('refuses what bootstrapCI refuses', () => {
    assert.throws(() => bootstrapMeanCI([1, 2], { resamples: 0, seed: 1 }), RangeError);
    assert.throws(() => bootstrapMeanCI([1, 2], { resamples: 10, seed: 1, level: 1 }), RangeError);
    assert.throws(() => bootstrapMeanCI([Number.MAX_VALUE, Number.MAX_VALUE], { resamples: 10, seed: 1 }), RangeError);
  });
});
