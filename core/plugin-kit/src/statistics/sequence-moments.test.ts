import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bootstrapCI, bootstrapMomentsCI, intervalFromResampledMoments, resampleMoments } from './bootstrap.js';
import { absoluteDeviationExplained, pearsonFromMoments, pooledMoments, pooledPearson } from './pooled.js';
import { Sfc32 } from '../seeded-random.js';
import { MOMENT_FIELDS, momentsOf, scoredMoments, sequenceMoments } from './sequence-moments.js';
import { scoredSequence } from './true-activations.js';
import type { ScoreSet } from './types.js';

/**
 * The previous implementation of the pooled moments (one two-pass sweep over the concatenated tokens), kept here
 * as the reference the per-sequence moments must agree with up to rounding.
 */
function referenceMoments(set: ScoreSet) {
  let n = 0;
  let sx = 0;
  let sy = 0;
  for (const { predicted, actual } of set)
    for (let t = 0; t < actual.length; t++) {
      sx += predicted[t]!;
      sy += actual[t]!;
      n++;
    }
  const mx = sx / n;
  const my = sy / n;
  let dxSum = 0;
  let dySum = 0;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (const { predicted, actual } of set)
    for (let t = 0; t < actual.length; t++) {
      const dx = predicted[t]! - mx;
      const dy = actual[t]! - my;
      dxSum += dx;
      dySum += dy;
      sxx += dx * dx;
      syy += dy * dy;
      sxy += dx * dy;
    }
  return {
    tokens: n,
    meanPredicted: mx + dxSum / n,
    meanActual: my + dySum / n,
    sxx: sxx - (dxSum * dxSum) / n,
    syy: syy - (dySum * dySum) / n,
    sxy: sxy - (dxSum * dySum) / n,
  };
}

/** A scored set like stage 3's: 20 top sequences that fire, 5 random ones mostly at 0, predictions on 0..10. */
function scoredSet(seed: number, sequences = 25, length = 32): ScoreSet {
  const rng = new Sfc32(seed);
  const quality = rng.nextFloat();
  return Array.from({ length: sequences }, (_, s) => {
    const actual = Float32Array.from({ length }, () =>
      s < 20 && rng.nextInt(6) === 0 ? Math.fround(rng.nextFloat() * 4) : 0,
    );
    const predicted = Float32Array.from(actual, (a) =>
      Math.min(10, Math.max(0, Math.round(a * 2.5 + (rng.nextFloat() - 0.5) * 10 * (1 - quality)))),
    );
    return { predicted, actual };
  });
}

const close = (a: number, b: number, scale: number) =>
  assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(scale)), `${a} != ${b}`);

describe('per-sequence moments', () => {
  it('the pooled moments of a set agree with the previous two-pass sweep within floating-point noise', () => {
    for (let seed = 0; seed < 50; seed++) {
      const set = scoredSet(seed);
      const m = pooledMoments(set);
      const r = referenceMoments(set);
      assert.equal(m.tokens, r.tokens);
      for (const k of ['meanPredicted', 'meanActual', 'sxx', 'syy', 'sxy'] as const) close(m[k], r[k], r.sxx + r.syy);
    }
  });

  it('summing the moments of chosen sequences equals the moments of those sequences pooled', () => {
    const set = scoredSet(3);
    const m = sequenceMoments(set);
    const rng = new Sfc32(5);
    for (let trial = 0; trial < 30; trial++) {
      const indices = Array.from({ length: 25 }, () => rng.nextInt(25));
      const summed = momentsOf(m, indices);
      const direct = pooledMoments(indices.map((i) => set[i]!));
      assert.equal(summed.tokens, direct.tokens);
      assert.equal(summed.constantPredicted, direct.constantPredicted);
      assert.equal(summed.constantActual, direct.constantActual);
      for (const k of ['meanPredicted', 'meanActual', 'sxx', 'syy', 'sxy'] as const)
        close(summed[k], direct[k], direct.sxx + direct.syy);
      const a = pearsonFromMoments(summed);
      const b = pooledPearson(indices.map((i) => set[i]!));
      assert.ok((a === null) === (b === null) && (a === null || Math.abs(a - b!) < 1e-12));
    }
  });

  it('constancy is exact across sequences: equal constant sequences stay constant, different ones do not', () => {
    const set: ScoreSet = [
      { predicted: [2, 2], actual: [0, 1] },
      { predicted: [2], actual: [0] },
      { predicted: [], actual: [] },
      { predicted: [3], actual: [0] },
    ];
    const m = sequenceMoments(set);
    assert.equal(momentsOf(m, [0, 1, 2]).constantPredicted, true);
    assert.equal(momentsOf(m, [0, 1, 2]).meanPredicted, 2);
    assert.equal(momentsOf(m, [0, 3]).constantPredicted, false);
    assert.equal(momentsOf(m, [1, 3]).constantActual, true);
    assert.equal(momentsOf(m, [2]).tokens, 0);
    assert.equal(pearsonFromMoments(momentsOf(m, [1, 3])), null);
    assert.equal(m.values.length, 4 * MOMENT_FIELDS);
  });

  it('refuses non-finite values and mismatched lengths, like the pooled statistics', () => {
    assert.throws(() => sequenceMoments([{ predicted: [1, Number.NaN], actual: [1, 2] }]), RangeError);
    assert.throws(() => sequenceMoments([{ predicted: [1], actual: [1, 2] }]), /1 predictions for 2/);
  });
});

describe('bootstrap over moments', () => {
  it('draws what bootstrapCI draws: the same interval within floating-point noise, the same undefined count', () => {
    for (let seed = 0; seed < 20; seed++) {
      const set = scoredSet(100 + seed, 13, 32);
      const strata = set.map((_, i) => (i < 10 ? 'top' : 'random'));
      const options = { resamples: 1000, seed, strata };
      const reference = bootstrapCI(set, pooledPearson, options);
      const fast = bootstrapMomentsCI(sequenceMoments(set), pearsonFromMoments, options);
      assert.equal(fast === null, reference === null);
      if (!fast || !reference) continue;
      assert.equal(fast.undefinedResamples, reference.undefinedResamples);
      assert.equal(fast.resamples, reference.resamples);
      assert.ok(Math.abs(fast.low - reference.low) < 1e-12, `${fast.low} vs ${reference.low}`);
      assert.ok(Math.abs(fast.high - reference.high) < 1e-12, `${fast.high} vs ${reference.high}`);
    }
  });

  it('draws kept for one shape (seed, resamples, strata) serve that shape only, called in any order', () => {
    const set = scoredSet(11, 13, 16);
    const shapes = [
      { resamples: 400, seed: 3, strata: set.map((_, i) => (i < 10 ? 'top' : 'random')) },
      { resamples: 400, seed: 3 },
      { resamples: 400, seed: 3, strata: set.map((_, i) => (i < 7 ? 'top' : 'random')) },
      { resamples: 400, seed: 4, strata: set.map((_, i) => (i < 10 ? 'top' : 'random')) },
      { resamples: 401, seed: 3, strata: set.map((_, i) => (i < 10 ? 'top' : 'random')) },
    ];
    for (const round of [0, 1])
      for (const options of round ? [...shapes].reverse() : shapes) {
        const reference = bootstrapCI(set, pooledPearson, options)!;
        const fast = bootstrapMomentsCI(sequenceMoments(set), pearsonFromMoments, options)!;
        assert.ok(Math.abs(fast.low - reference.low) < 1e-12, JSON.stringify(options));
        assert.ok(Math.abs(fast.high - reference.high) < 1e-12, JSON.stringify(options));
      }
  });

  it('splits into a heavy half (resampled sums) and a light half (the statistic), with the same result', () => {
    const set = scoredSet(7);
    const m = sequenceMoments(set);
    const options = { resamples: 300, seed: 4 };
    const sums = resampleMoments(m, options)!;
    assert.equal(sums.length, 300 * MOMENT_FIELDS);
    assert.deepEqual(
      intervalFromResampledMoments(sums, m, pearsonFromMoments),
      bootstrapMomentsCI(m, pearsonFromMoments, options),
    );
    assert.equal(resampleMoments(sequenceMoments(set.slice(0, 1)), options), null);
  });

  it('absolute deviation explained, a median statistic, is unchanged by the selection-based median', () => {
    // Hand computation in pooled.test.ts; here, a larger sparse set against a sort-based median.
    const set = scoredSet(9);
    const ys = Float64Array.from(set.flatMap((s) => [...(s.actual as Float32Array)])).sort();
    const mid = ys.length >> 1;
    const median = ys.length % 2 ? ys[mid]! : (ys[mid - 1]! + ys[mid]!) / 2;
    const m = pooledMoments(set);
    const slope = m.sxy / m.sxx;
    const intercept = m.meanActual - slope * m.meanPredicted;
    let residual = 0;
    let baseline = 0;
    for (const { predicted, actual } of set)
      for (let t = 0; t < actual.length; t++) {
        residual += Math.abs(actual[t]! - (slope * predicted[t]! + intercept));
        baseline += Math.abs(actual[t]! - median);
      }
    assert.ok(Math.abs(absoluteDeviationExplained(set)! - (1 - residual / baseline)) < 1e-12);
  });
});

describe('moments of predicted sequences', () => {
  it('equal the pooled moments of the scored sequences bit for bit, both signs, prefixes and all', () => {
    for (let seed = 0; seed < 40; seed++) {
      const rng = new Sfc32(500 + seed);
      const rows = Array.from({ length: 1 + rng.nextInt(12) }, () => {
        const length = rng.nextInt(20);
        return {
          activations: Float32Array.from({ length }, () =>
            rng.nextInt(3) === 0 ? Math.fround(rng.nextFloat() * 6 - 3) : 0,
          ),
          countFrom: rng.nextInt(3),
          predicted: Float32Array.from({ length }, () => rng.nextInt(4) * 2.5),
        };
      });
      for (const sign of ['positive', 'negative'] as const) {
        const direct = scoredMoments(sign, rows);
        const reference = pooledMoments(rows.map((r) => scoredSequence(sign, r, r.predicted)));
        assert.deepEqual(direct, reference, `seed ${seed} ${sign}`);
      }
    }
  });
});
