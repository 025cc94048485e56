import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reduceOnHost } from './host-reductions.js';

/**
 * batch 2, seqLen 3, width 2; row 1 is 2 tokens long, so its position 2 is padding (values 100 / -100 there
 * would win every max and min if padding counted).
 *   row 0: t0 [1, -1]  t1 [5,  0]  t2 [2,   -4]
 *   row 1: t0 [9, -9]  t1 [3,  2]  t2 [100, -100]  (padding)
 */
const full = Float32Array.from([1, -1, 5, 0, 2, -4, 9, -9, 3, 2, 100, -100]);
const shape = { batch: 2, seqLen: 3, width: 2, lengths: Int32Array.of(3, 2) };
/** `shape` with countFrom: positions [0, countFrom[b]) of row b do not count in extremes and gating. */
const from = (...countFrom: number[]) => ({ ...shape, countFrom: Int32Array.from(countFrom) });
const hook = 'mlp/0';
const thresholds = (top: number[], bottom: number[]) => ({
  top: Float32Array.from(top),
  bottom: Float32Array.from(bottom),
});
const list = (a: ArrayLike<number> | undefined) => Array.from(a ?? []);

describe('reduceOnHost: full', () => {
  it('returns every value, with NaN at padded positions, and leaves the input alone', () => {
    const copy = full.slice();
    const result = reduceOnHost(full, shape, { hook, reduce: 'full' });
    assert.equal(result.hook, hook);
    assert.equal(result.width, 2);
    assert.deepEqual(list(result.full), [1, -1, 5, 0, 2, -4, 9, -9, 3, 2, Number.NaN, Number.NaN]);
    assert.deepEqual(full, copy);
    assert.equal(result.max, undefined);
    assert.equal(result.gated, undefined);
  });

  it('without lengths every position is real', () => {
    const result = reduceOnHost(full, { batch: 2, seqLen: 3, width: 2 }, { hook, reduce: 'full' });
    assert.deepEqual(list(result.full), list(full));
  });

  it('countFrom does not blank prefix positions in full values', () => {
    const result = reduceOnHost(full, from(1, 2), { hook, reduce: 'full' });
    assert.deepEqual(list(result.full), [1, -1, 5, 0, 2, -4, 9, -9, 3, 2, Number.NaN, Number.NaN]);
  });

  it('a zero-length row is all NaN', () => {
    const result = reduceOnHost(full, { ...shape, lengths: Int32Array.of(3, 0) }, { hook, reduce: 'full' });
    assert.ok(list(result.full).slice(6).every(Number.isNaN));
    assert.ok(!list(result.full).slice(0, 6).some(Number.isNaN));
  });
});

describe('reduceOnHost: extremes', () => {
  it('takes per-row, per-feature max and min over real positions only', () => {
    const result = reduceOnHost(full, shape, { hook, reduce: 'extremes' });
    assert.deepEqual(list(result.max), [5, 0, 9, 2]);
    assert.deepEqual(list(result.min), [1, -4, 3, -9]);
    assert.equal(result.full, undefined);
    assert.equal(result.gated, undefined);
  });

  it('counts padding when no lengths are given', () => {
    const result = reduceOnHost(full, { batch: 2, seqLen: 3, width: 2 }, { hook, reduce: 'extremes' });
    assert.deepEqual(list(result.max), [5, 0, 100, 2]);
    assert.deepEqual(list(result.min), [1, -4, 3, -100]);
  });

  it('countFrom skips the first positions of a row', () => {
    const result = reduceOnHost(full, from(1, 1), { hook, reduce: 'extremes' });
    assert.deepEqual(list(result.max), [5, 0, 3, 2]);
    assert.deepEqual(list(result.min), [2, -4, 3, 2]);
  });

  it('countFrom applies per row: each row skips its own prefix', () => {
    // Row 0 counts only t2; row 1 counts t0 and t1, so its 9 / -9 at t0 count although row 0's t0 does not.
    const result = reduceOnHost(full, from(2, 0), { hook, reduce: 'extremes' });
    assert.deepEqual(list(result.max), [2, -4, 9, 2]);
    assert.deepEqual(list(result.min), [2, -4, 3, -9]);
    const swapped = reduceOnHost(full, from(0, 1), { hook, reduce: 'extremes' });
    assert.deepEqual(list(swapped.max), [5, 0, 3, 2]);
    assert.deepEqual(list(swapped.min), [1, -4, 3, 2]);
  });

  it('an all-zero countFrom is the same as none', () => {
    const result = reduceOnHost(full, from(0, 0), { hook, reduce: 'extremes' });
    assert.deepEqual(list(result.max), [5, 0, 9, 2]);
    assert.deepEqual(list(result.min), [1, -4, 3, -9]);
  });

  it('a row with no counted position has max -Infinity and min +Infinity', () => {
    const result = reduceOnHost(full, from(2, 2), { hook, reduce: 'extremes' });
    assert.deepEqual(list(result.max), [2, -4, -Infinity, -Infinity]);
    assert.deepEqual(list(result.min), [2, -4, Infinity, Infinity]);
    // countFrom past the row's length counts nothing, and never reads past the row.
    const past = reduceOnHost(full, from(0, 3), { hook, reduce: 'extremes' });
    assert.deepEqual(list(past.max), [5, 0, -Infinity, -Infinity]);
    assert.deepEqual(list(past.min), [1, -4, Infinity, Infinity]);
  });

  it('checks countFrom against the batch and refuses negative starts', () => {
    assert.throws(() => reduceOnHost(full, from(1), { hook, reduce: 'extremes' }), /1 countFrom values for batch 2/);
    assert.throws(
      () => reduceOnHost(full, from(0, -1), { hook, reduce: 'extremes' }),
      /countFrom -1 of row 1 is negative/,
    );
  });

  it('checks the value count against the shape', () => {
    assert.throws(() => reduceOnHost(full.subarray(1), shape, { hook, reduce: 'extremes' }), /11 values for 2 x 3 x 2/);
  });
});

describe('reduceOnHost: gated', () => {
  it('selects (row, feature) pairs above top or below bottom, with their per-token values and extremes', () => {
    // row 0: f0 max 5 > 6? no, min 1 < 2: yes. f1: max 0 > 1? no, min -4 < -5? no.
    // row 1: f0 max 9 > 6: yes. f1 max 2 > 1: yes.
    const result = reduceOnHost(full, shape, { hook, reduce: 'gated', thresholds: thresholds([6, 1], [2, -5]) });
    assert.deepEqual(list(result.max), [5, 0, 9, 2]);
    assert.deepEqual(list(result.min), [1, -4, 3, -9]);
    assert.ok(result.gated);
    assert.ok(result.gated.rows instanceof Int32Array && result.gated.features instanceof Int32Array);
    assert.deepEqual(list(result.gated.rows), [0, 1, 1]);
    assert.deepEqual(list(result.gated.features), [0, 0, 1]);
    assert.deepEqual(list(result.gated.values), [1, 5, 2, 9, 3, Number.NaN, -9, 2, Number.NaN]);
    assert.deepEqual(list(result.gated.max), [5, 9, 2], "each pair's per-sequence max");
    assert.deepEqual(list(result.gated.min), [1, 3, -9], "each pair's per-sequence min");
  });

  it('orders by feature, then by row, whichever threshold selected the pair', () => {
    const result = reduceOnHost(full, shape, {
      hook,
      reduce: 'gated',
      thresholds: thresholds([-Infinity, -Infinity], [Infinity, Infinity]),
    });
    assert.deepEqual(list(result.gated?.rows), [0, 1, 0, 1]);
    assert.deepEqual(list(result.gated?.features), [0, 0, 1, 1]);
    assert.deepEqual(list(result.gated?.values), [1, 5, 2, 9, 3, Number.NaN, -1, 0, -4, -9, 2, Number.NaN]);
  });

  it('a NaN extreme passes every gate, so broken numerics reach the host', () => {
    const poisoned = full.slice();
    poisoned[3] = Number.NaN; // row 0, t1, feature 1
    const result = reduceOnHost(poisoned, shape, {
      hook,
      reduce: 'gated',
      thresholds: thresholds([Infinity, Infinity], [-Infinity, -Infinity]),
    });
    assert.ok(Number.isNaN(result.max![1]!) && Number.isNaN(result.min![1]!), 'NaN propagates into the extremes');
    assert.deepEqual(list(result.gated?.rows), [0]);
    assert.deepEqual(list(result.gated?.features), [1]);
  });

  it('compares strictly: a max equal to top or a min equal to bottom is not selected', () => {
    const equal = reduceOnHost(full, shape, { hook, reduce: 'gated', thresholds: thresholds([9, 2], [1, -9]) });
    assert.deepEqual(
      list(equal.gated?.rows),
      [],
      'row 0 f0 min 1 == 1, row 1 f0 max 9 == 9, row 1 f1 max 2 == 2 and min -9 == -9',
    );
    assert.equal(equal.gated?.values.length, 0);
    const below = reduceOnHost(full, shape, { hook, reduce: 'gated', thresholds: thresholds([8.5, 2], [1, -9]) });
    assert.deepEqual(list(below.gated?.rows), [1]);
    assert.deepEqual(list(below.gated?.features), [0]);
  });

  it('+Infinity / -Infinity thresholds extract nothing', () => {
    const result = reduceOnHost(full, shape, {
      hook,
      reduce: 'gated',
      thresholds: thresholds([Infinity, Infinity], [-Infinity, -Infinity]),
    });
    assert.equal(result.gated?.rows.length, 0);
    assert.equal(result.gated?.features.length, 0);
    assert.equal(result.gated?.values.length, 0);
    assert.deepEqual(list(result.max), [5, 0, 9, 2], 'extremes are still returned');
  });

  it('one side alone can select: top -Infinity selects every pair with a counted position', () => {
    const result = reduceOnHost(full, shape, {
      hook,
      reduce: 'gated',
      thresholds: thresholds([-Infinity, Infinity], [-Infinity, -Infinity]),
    });
    assert.deepEqual(list(result.gated?.rows), [0, 1]);
    assert.deepEqual(list(result.gated?.features), [0, 0]);
  });

  it('honours countFrom for selection but returns every real position, prefix included', () => {
    // countFrom 1: row 1 f0's max drops from 9 to 3, so top 4 no longer selects it (without countFrom it would).
    const result = reduceOnHost(full, from(1, 1), {
      hook,
      reduce: 'gated',
      thresholds: thresholds([4, 10], [1.5, -10]),
    });
    assert.deepEqual(list(result.gated?.rows), [0]);
    assert.deepEqual(list(result.gated?.features), [0]);
    assert.deepEqual(list(result.gated?.values), [1, 5, 2], 'position 0 is returned with its real value');
    const without = reduceOnHost(full, shape, { hook, reduce: 'gated', thresholds: thresholds([4, 10], [1.5, -10]) });
    assert.deepEqual(list(without.gated?.rows), [0, 1]);
  });

  it("selects with each row's own countFrom", () => {
    // countFrom [2, 0]: row 0 counts only t2 (f0 max 2, min 2: not selected, though it is with countFrom 0 or 1
    // for every row); row 1 counts t0 and t1 (f0 max 9 > 4: selected, though not with countFrom 1 or 2 for every row).
    const result = reduceOnHost(full, from(2, 0), {
      hook,
      reduce: 'gated',
      thresholds: thresholds([4, 10], [1.5, -10]),
    });
    assert.deepEqual(list(result.gated?.rows), [1]);
    assert.deepEqual(list(result.gated?.features), [0]);
    assert.deepEqual(
      list(result.gated?.values),
      [9, 3, Number.NaN],
      'the pair keeps every real position and NaN padding',
    );
  });

  it('never selects a row with no counted position, even with the loosest thresholds', () => {
    const result = reduceOnHost(full, from(2, 2), {
      hook,
      reduce: 'gated',
      thresholds: thresholds([-Infinity, -Infinity], [Infinity, Infinity]),
    });
    assert.deepEqual(list(result.gated?.rows), [0, 0]);
    assert.deepEqual(list(result.gated?.features), [0, 1]);
  });

  it('requires top and bottom thresholds of the hook width', () => {
    assert.throws(
      () => reduceOnHost(full, shape, { hook, reduce: 'gated' }),
      /gated reduction of mlp\/0 needs thresholds.top and thresholds.bottom of length 2/,
    );
    assert.throws(
      () => reduceOnHost(full, shape, { hook, reduce: 'gated', thresholds: thresholds([1], [0]) }),
      /of length 2/,
    );
    assert.throws(
      () => reduceOnHost(full, shape, { hook, reduce: 'gated', thresholds: thresholds([1, 1], [0]) }),
      /of length 2/,
    );
  });
});

describe('reduceOnHost: gated extremes', () => {
  it('returns only the extremes beyond extremeThresholds, feature-major, and the dense rows asked for', () => {
    // max [[5, 0], [9, 2]], min [[1, -4], [3, -9]]
    const result = reduceOnHost(full, shape, {
      hook,
      reduce: 'gated',
      thresholds: thresholds([Infinity, Infinity], [-Infinity, -Infinity]),
      extremeThresholds: thresholds([6, -1], [2, -5]),
      denseRows: Int32Array.of(1),
    });
    assert.equal(result.max, undefined, 'no dense extremes');
    assert.equal(result.min, undefined);
    const { maxima, minima } = result.extremes!;
    // index = feature * batch + row: (f0, row 1), (f1, row 0), (f1, row 1).
    assert.deepEqual(list(maxima.index), [1, 2, 3]);
    assert.deepEqual(list(maxima.values), [9, 0, 2]);
    assert.deepEqual(list(minima.index), [0, 3]);
    assert.deepEqual(list(minima.values), [1, -9]);
    assert.deepEqual(list(result.dense?.rows), [1]);
    assert.deepEqual(list(result.dense?.max), [9, 2]);
    assert.deepEqual(list(result.dense?.min), [3, -9]);
    assert.equal(result.gated?.rows.length, 0);
  });

  it('never returns a row with no counted position, and compares strictly', () => {
    const result = reduceOnHost(full, from(0, 2), {
      hook,
      reduce: 'gated',
      thresholds: thresholds([Infinity, Infinity], [-Infinity, -Infinity]),
      extremeThresholds: thresholds([-Infinity, 0], [Infinity, -4]),
    });
    assert.deepEqual(list(result.extremes!.maxima.index), [0], 'row 1 has no counted position; f1 max 0 == 0');
    assert.deepEqual(list(result.extremes!.minima.index), [0], 'f1 min -4 == -4 is not beyond');
    assert.equal(result.dense?.rows.length, 0);
  });

  it('refuses dense rows without extreme thresholds, and rows out of order', () => {
    const gate = thresholds([1, 1], [0, 0]);
    assert.throws(
      () => reduceOnHost(full, shape, { hook, reduce: 'gated', thresholds: gate, denseRows: Int32Array.of(0) }),
      /denseRows of mlp\/0 needs extremeThresholds/,
    );
    assert.throws(
      () =>
        reduceOnHost(full, shape, {
          hook,
          reduce: 'gated',
          thresholds: gate,
          extremeThresholds: gate,
          denseRows: Int32Array.of(1, 0),
        }),
      /distinct ascending rows below 2/,
    );
  });
});
