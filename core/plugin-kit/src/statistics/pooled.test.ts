import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  absoluteDeviationExplained,
  linearCalibration,
  median,
  pearson,
  pooledMoments,
  pooledPearson,
  pooledStatistics,
} from './pooled.js';
import type { ScoreSet } from './types.js';

const close = (actual: number | null, expected: number, tol = 1e-12) =>
  assert.ok(actual !== null && Math.abs(actual - expected) <= tol, `${actual} != ${expected}`);

/**
 * Hand computation for x = [1, 2, 3, 4] (predicted), y = [2, 4, 5, 9] (actual):
 *   x̄ = 2.5, ȳ = 5; dx = [−1.5, −0.5, 0.5, 1.5], dy = [−3, −1, 0, 4]
 *   sxx = 2.25 + 0.25 + 0.25 + 2.25 = 5;  syy = 9 + 1 + 0 + 16 = 26;  sxy = 4.5 + 0.5 + 0 + 6 = 11
 *   r = 11 / √(5 · 26) = 11 / √130 ≈ 0.964763821;  r² = 121/130
 *   slope = sxy / sxx = 2.2;  intercept = ȳ − slope · x̄ = 5 − 5.5 = −0.5
 *   calibrated ŷ = 2.2 x − 0.5 = [1.7, 3.9, 6.1, 8.3];  |y − ŷ| = [0.3, 0.1, 1.1, 0.7], Σ = 2.2
 *   median(y) = (4 + 5)/2 = 4.5;  |y − 4.5| = [2.5, 0.5, 0.5, 4.5], Σ = 8
 *   ADE = 1 − 2.2 / 8 = 0.725
 * Split across two sequences, the pooled values are the same.
 */
const split: ScoreSet = [
  { predicted: [1, 2], actual: [2, 4] },
  { predicted: Float32Array.of(3, 4), actual: Float32Array.of(5, 9) },
];

describe('pooled statistics on a hand-computed case', () => {
  it('Pearson r = 11/√130', () => {
    close(pooledPearson(split), 11 / Math.sqrt(130));
    close(pearson([1, 2, 3, 4], [2, 4, 5, 9]), 11 / Math.sqrt(130));
  });

  it('moments: means and centered sums', () => {
    const m = pooledMoments(split);
    assert.equal(m.tokens, 4);
    close(m.meanPredicted, 2.5);
    close(m.meanActual, 5);
    close(m.sxx, 5);
    close(m.syy, 26);
    close(m.sxy, 11);
  });

  it('linear calibration: slope 2.2, intercept −0.5, R² = 121/130 = r²', () => {
    const c = linearCalibration(split)!;
    close(c.slope, 2.2);
    close(c.intercept, -0.5);
    close(c.rSquared, 121 / 130);
    // R² as 1 − SSres/SStot of the fit: SSres = 0.09 + 0.01 + 1.21 + 0.49 = 1.8, SStot = 26 → 1 − 1.8/26 = 121/130.
    close(1 - 1.8 / 26, c.rSquared);
  });

  it('absolute deviation explained = 1 − 2.2/8 = 0.725', () => {
    close(absoluteDeviationExplained(split), 0.725);
  });

  it('pooledStatistics reports everything at once', () => {
    const s = pooledStatistics(split);
    assert.equal(s.tokens, 4);
    close(s.pearson, 11 / Math.sqrt(130));
    close(s.rSquared, 121 / 130);
    close(s.slope, 2.2);
    close(s.intercept, -0.5);
    close(s.absoluteDeviationExplained, 0.725);
  });

  it("ADE with median 0 (a sparse feature) equals OpenAI's 1 − mean|y − ŷ| / mean|y|", () => {
    // x = [0, 0, 0, 1, 2], y = [0, 0, 0, 2, 3]: x̄ = 0.6, ȳ = 1; dx = [−.6, −.6, −.6, .4, 1.4], dy = [−1, −1, −1, 1, 2]
    // sxx = 3·0.36 + 0.16 + 1.96 = 3.2; sxy = 3·0.6 + 0.4 + 2.8 = 5; slope = 1.5625; intercept = 1 − 0.9375 = 0.0625
    // ŷ = [.0625, .0625, .0625, 1.625, 3.1875]; |y − ŷ| = [.0625, .0625, .0625, .375, .1875], Σ = 0.75
    // median(y) = 0, Σ|y| = 5 → ADE = 1 − 0.75/5 = 0.85
    close(absoluteDeviationExplained([{ predicted: [0, 0, 0, 1, 2], actual: [0, 0, 0, 2, 3] }]), 0.85);
  });

  it('ADE can be negative when the least-squares fit loses to the median in L1', () => {
    // One outlier pulls the least-squares line away from the other tokens:
    // x = [0, 1, 2, 3, 4], y = [0, 0, 0, 0, 10]: slope = sxy/sxx = 20/10 = 2, intercept = 2 − 2·2 = −2
    // ŷ = [−2, 0, 2, 4, 6]; |y − ŷ| = [2, 0, 2, 4, 4], Σ = 12; median(y) = 0, Σ|y| = 10 → ADE = 1 − 12/10 = −0.2
    close(absoluteDeviationExplained([{ predicted: [0, 1, 2, 3, 4], actual: [0, 0, 0, 0, 10] }]), -0.2);
  });

  it('perfect and perfectly inverted predictions give ±1, shifted and scaled alike', () => {
    close(pearson([1, 2, 3], [30, 20, 10]), -1);
    const s = pooledStatistics([{ predicted: [0, 5, 10], actual: [1, 2, 3] }]);
    close(s.pearson, 1);
    close(s.rSquared, 1);
    close(s.slope, 0.2);
    close(s.intercept, 1);
    close(s.absoluteDeviationExplained, 1);
  });
});

describe('undefined statistics are null', () => {
  const allNull = (set: ScoreSet) => {
    const s = pooledStatistics(set);
    assert.deepEqual(
      {
        pearson: s.pearson,
        rSquared: s.rSquared,
        slope: s.slope,
        intercept: s.intercept,
        ade: s.absoluteDeviationExplained,
      },
      { pearson: null, rSquared: null, slope: null, intercept: null, ade: null },
    );
    assert.equal(pooledPearson(set), null);
    assert.equal(linearCalibration(set), null);
    assert.equal(absoluteDeviationExplained(set), null);
  };

  it('constant predictions', () => allNull([{ predicted: [3, 3, 3], actual: [1, 2, 3] }]));
  it('constant true activations (a feature that never fires on the set)', () =>
    allNull([{ predicted: [1, 2, 3], actual: [0, 0, 0] }]));
  it('constant across sequences as well', () =>
    allNull([
      { predicted: [2], actual: [1] },
      { predicted: [2, 2], actual: [5, 6] },
    ]));
  it('a constant that does not survive summation exactly (10 × 0.1) is still constant', () => {
    allNull([{ predicted: new Array<number>(10).fill(0.1), actual: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }]);
  });
  it('fewer than two tokens', () => {
    allNull([]);
    allNull([{ predicted: [], actual: [] }]);
    allNull([
      { predicted: [1], actual: [2] },
      { predicted: [], actual: [] },
    ]);
  });
  it('token counts still reported', () => {
    assert.equal(pooledStatistics([{ predicted: [1], actual: [2] }]).tokens, 1);
  });
});

describe('numerics and validation', () => {
  it('a large common offset does not change r (two-pass, float64)', () => {
    const offset = 1e9;
    const x = Float64Array.from([1, 2, 3, 4], (v) => v + offset);
    close(pearson(x, [2, 4, 5, 9]), 11 / Math.sqrt(130), 1e-9);
    const c = linearCalibration([{ predicted: x, actual: [2, 4, 5, 9] }])!;
    close(c.slope, 2.2, 1e-6);
  });

  it('r stays within [−1, 1]', () => {
    const x = Array.from({ length: 1000 }, (_, i) => 0.1 * i + 1e6);
    const r = pearson(x, x)!;
    assert.ok(r <= 1 && r > 1 - 1e-12);
  });

  it('refuses mismatched lengths and non-finite values', () => {
    assert.throws(() => pooledPearson([{ predicted: [1, 2], actual: [1, 2, 3] }]), /2 predictions for 3/);
    assert.throws(() => pooledPearson([{ predicted: [1, Number.NaN], actual: [1, 2] }]), RangeError);
    assert.throws(() => pooledPearson([{ predicted: [1, 2], actual: [Number.POSITIVE_INFINITY, 2] }]), RangeError);
  });

  it('median: odd, even, unsorted input left alone', () => {
    const v = [5, 1, 3];
    assert.equal(median(v), 3);
    assert.deepEqual(v, [5, 1, 3]);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median(Float32Array.of(-1, -3)), -2);
    assert.throws(() => median([]), RangeError);
  });
});
