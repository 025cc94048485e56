import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countedRange, scoredSequence, trueActivations } from './true-activations.js';

/**
 * positions:    0   1   2   3  4  5
 * activations:  9  -9   1  -2  3  NaN   countFrom 2, length 5: positions 2, 3, 4 count; 0 and 1 are the prefix
 * (their ±9 would dominate if they counted) and 5 is past the end (NaN: it must never be read).
 */
const seq = { activations: Float32Array.of(9, -9, 1, -2, 3, Number.NaN), countFrom: 2, length: 5 };
const list = (a: ArrayLike<number>) => Array.from(a);

describe('trueActivations', () => {
  it('positive: max(a, 0) over the counted positions', () => {
    assert.deepEqual(list(trueActivations('positive', seq)), [1, 0, 3]);
  });

  it('negative: |min(a, 0)| over the counted positions', () => {
    assert.deepEqual(list(trueActivations('negative', seq)), [0, 2, 0]);
  });

  it('length defaults to every stored activation; countFrom 0 counts everything', () => {
    assert.deepEqual(
      list(trueActivations('negative', { activations: [-1.5, 2, -0.25], countFrom: 0 })),
      [1.5, 0, 0.25],
    );
  });

  it('countFrom at or past length gives no tokens', () => {
    assert.deepEqual(list(trueActivations('positive', { ...seq, countFrom: 5 })), []);
    assert.deepEqual(list(trueActivations('positive', { ...seq, countFrom: 7 })), []);
  });

  it('refuses a non-finite counted activation and bad ranges', () => {
    assert.throws(() => trueActivations('positive', { ...seq, length: 6 }), /position 5/);
    assert.throws(() => trueActivations('positive', { ...seq, length: 7 }), RangeError);
    assert.throws(() => trueActivations('positive', { ...seq, countFrom: -1 }), RangeError);
    assert.throws(() => countedRange(1.5, 3, 3), RangeError);
    assert.deepEqual(countedRange(4, 3, 3), { start: 3, end: 3 });
  });
});

describe('scoredSequence', () => {
  it('keeps the predictions of the counted positions, aligned with the true activations', () => {
    const predicted = Float32Array.of(10, 10, 0.5, 7, 2, 10);
    const s = scoredSequence('positive', seq, predicted);
    assert.deepEqual(list(s.predicted), [0.5, 7, 2]);
    assert.deepEqual(list(s.actual), [1, 0, 3]);
  });

  it('requires one prediction per stored activation, finite where counted', () => {
    assert.throws(() => scoredSequence('positive', seq, [1, 2, 3]), /3 predictions for a sequence of 6/);
    assert.throws(() => scoredSequence('positive', seq, [0, 0, 0, Number.NaN, 0, 0]), /position 3/);
    assert.doesNotThrow(() => scoredSequence('positive', seq, [Number.NaN, 0, 0, 0, 0, Number.NaN]));
  });
});
