import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { quantileSorted } from './bootstrap.js';
import { Sfc32 } from '../seeded-random.js';
import { medianInPlace, quantileInPlace, selectInPlace } from './select.js';

/** Arrays with the shapes true activations have: runs of exact zeros, ties, negative values, a few large ones. */
function arrays(): Float64Array[] {
  const rng = new Sfc32(11);
  const out: Float64Array[] = [Float64Array.of(3), Float64Array.of(2, 1), Float64Array.of(5, 5, 5, 5)];
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + rng.nextInt(300);
    const zeros = rng.nextFloat();
    out.push(
      Float64Array.from({ length: n }, () =>
        rng.nextFloat() < zeros ? 0 : rng.nextInt(4) === 0 ? rng.nextInt(5) : (rng.nextFloat() - 0.3) * 10,
      ),
    );
  }
  return out;
}

describe('order statistics by selection', () => {
  it('selectInPlace gives every order statistic of the sorted copy, with partitioned sides', () => {
    for (const values of arrays().slice(0, 60)) {
      const sorted = Float64Array.from(values).sort();
      for (let k = 0; k < values.length; k++) {
        const buffer = Float64Array.from(values);
        assert.equal(selectInPlace(buffer, k), sorted[k]);
        for (let i = 0; i < k; i++) assert.ok(buffer[i]! <= buffer[k]!);
        for (let i = k + 1; i < buffer.length; i++) assert.ok(buffer[i]! >= buffer[k]!);
      }
    }
  });

  it('medianInPlace equals the median of the sorted values, odd and even counts', () => {
    for (const values of arrays()) {
      const sorted = Float64Array.from(values).sort();
      const mid = sorted.length >> 1;
      const expected = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
      assert.equal(medianInPlace(Float64Array.from(values)), expected);
    }
    assert.throws(() => medianInPlace(new Float64Array(0)), RangeError);
  });

  it('quantileInPlace equals quantileSorted (type 7) at the ends a 95% interval uses, and at 0, ½, 1', () => {
    for (const values of arrays()) {
      const sorted = Float64Array.from(values).sort();
      for (const q of [0, 0.025, 0.5, 0.975, 1]) {
        assert.equal(quantileInPlace(Float64Array.from(values), q), quantileSorted(sorted, q));
      }
    }
    assert.throws(() => quantileInPlace(Float64Array.of(1), 2), RangeError);
    assert.throws(() => selectInPlace(Float64Array.of(1), 1), RangeError);
  });

  it('stays linear on a run of ties (a sparse feature is mostly exact zeros)', () => {
    const zeros = new Float64Array(200_000);
    zeros[7] = 3;
    assert.equal(medianInPlace(zeros), 0);
  });
});
