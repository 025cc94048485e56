import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { derangement, summarizeScores } from './null-baseline.js';

describe('derangement', () => {
  it('is a permutation with no fixed point for every n >= 2', () => {
    for (let n = 2; n <= 40; n++) {
      for (let seed = 0; seed < 25; seed++) {
        const p = derangement(n, seed);
        assert.deepEqual(
          [...p].sort((a, b) => a - b),
          Array.from({ length: n }, (_, i) => i),
        );
        p.forEach((v, i) => {
          assert.notEqual(v, i, `n ${n} seed ${seed}: ${i} kept its own description`);
        });
      }
    }
  });

  it('is determined by the seed', () => {
    assert.deepEqual(derangement(30, 17), derangement(30, 17));
    assert.notDeepEqual(derangement(30, 17), derangement(30, 18));
  });

  it('n = 2 has one derangement; n = 0 and 1 have none to offer', () => {
    assert.deepEqual(derangement(2, 123), [1, 0]);
    assert.deepEqual(derangement(0, 1), []);
    assert.deepEqual(derangement(1, 1), [0]);
    assert.throws(() => derangement(-1, 1), RangeError);
    assert.throws(() => derangement(2.5, 1), RangeError);
  });

  it('reaches every derangement: all 9 of n = 4, each roughly equally often', () => {
    const counts = new Map<string, number>();
    for (let seed = 0; seed < 1800; seed++) {
      const key = derangement(4, seed).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    assert.equal(counts.size, 9);
    // 200 expected each; chi-square with 8 degrees of freedom, 0.1% critical value 26.12.
    const chi2 = [...counts.values()].reduce((s, c) => s + (c - 200) ** 2 / 200, 0);
    assert.ok(chi2 < 26.12, `chi-square ${chi2}: ${JSON.stringify([...counts])}`);
  });
});

describe('summarizeScores', () => {
  it('counts, averages the defined values and bootstraps the mean over features', () => {
    const s = summarizeScores([0.5, null, 0.7, 0.9, null], { resamples: 1000, seed: 2 });
    assert.equal(s.count, 5);
    assert.equal(s.defined, 3);
    assert.ok(Math.abs(s.mean! - 0.7) < 1e-12);
    assert.ok(s.ci !== null);
    assert.ok(s.ci.low >= 0.5 && s.ci.low <= 0.7 && s.ci.high >= 0.7 && s.ci.high <= 0.9, JSON.stringify(s.ci));
    assert.equal(s.ci.undefinedResamples, 0);
    assert.deepEqual(summarizeScores([0.5, null, 0.7, 0.9, null], { resamples: 1000, seed: 2 }), s);
  });

  it('no defined value: mean and interval null; one: mean only', () => {
    assert.deepEqual(summarizeScores([null, null], { resamples: 10, seed: 1 }), {
      count: 2,
      defined: 0,
      mean: null,
      ci: null,
    });
    assert.deepEqual(summarizeScores([], { resamples: 10, seed: 1 }), { count: 0, defined: 0, mean: null, ci: null });
    assert.deepEqual(summarizeScores([0.25, null], { resamples: 10, seed: 1 }), {
      count: 2,
      defined: 1,
      mean: 0.25,
      ci: null,
    });
  });

  it('refuses NaN in place of null', () => {
    assert.throws(() => summarizeScores([0.1, Number.NaN], { resamples: 10, seed: 1 }), /must be null/);
  });
});
