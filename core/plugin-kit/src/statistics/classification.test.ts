import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { binaryCounts, binaryStatistics } from './classification.js';

const pairs = (truth: boolean, answer: boolean, n: number) => Array.from({ length: n }, () => ({ truth, answer }));

describe('binary statistics', () => {
  it('counts and rates of a judge against the truth', () => {
    const s = binaryStatistics(
      binaryCounts([
        ...pairs(true, true, 6),
        ...pairs(true, false, 2),
        ...pairs(false, false, 3),
        ...pairs(false, true, 1),
      ]),
    );
    assert.deepEqual([s.truePositives, s.falseNegatives, s.trueNegatives, s.falsePositives], [6, 2, 3, 1]);
    assert.equal(s.accuracy, 9 / 12);
    assert.equal(s.recall, 6 / 8);
    assert.equal(s.specificity, 3 / 4);
    assert.equal(s.balancedAccuracy, (6 / 8 + 3 / 4) / 2);
    assert.equal(s.precision, 6 / 7);
    assert.equal(s.f1, 12 / 15);
  });
  it('a judge that is always right scores 1 everywhere; one that always says yes is at chance', () => {
    const perfect = binaryStatistics(binaryCounts([...pairs(true, true, 3), ...pairs(false, false, 9)]));
    assert.deepEqual([perfect.accuracy, perfect.balancedAccuracy, perfect.precision, perfect.f1], [1, 1, 1, 1]);
    const yes = binaryStatistics(binaryCounts([...pairs(true, true, 3), ...pairs(false, true, 9)]));
    assert.equal(yes.balancedAccuracy, 0.5, 'balanced accuracy does not reward the majority answer');
    assert.equal(yes.accuracy, 0.25);
  });
  it('a rate without a denominator is null, never NaN', () => {
    const onlyPositives = binaryStatistics(binaryCounts(pairs(true, false, 4)));
    assert.equal(onlyPositives.specificity, null);
    assert.equal(onlyPositives.balancedAccuracy, null);
    assert.equal(onlyPositives.precision, null, 'never said yes');
    assert.equal(onlyPositives.f1, 0);
    const none = binaryStatistics(binaryCounts([]));
    assert.deepEqual([none.accuracy, none.f1, none.recall], [null, null, null]);
  });
});
