import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isExpgenError, type Sign } from '@expgen/contract';
import { TAIL_FRACTIONS } from '../../exemplars/state/activation-distribution.js';
import { chooseThreshold, signQuantiles, type ThresholdRule } from './threshold.js';

const FRACTIONS = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4];

interface Case {
  name: string;
  sign?: Sign;
  /** Values at 1e-8 ... 1e-4. */
  values: (number | null)[];
  /** Distinct marked strings per threshold value. */
  counts: Record<number, number>;
  strongest?: number;
  fractions?: number[];
  threshold: number;
  rule: ThresholdRule;
  fraction: number | null;
}

const cases: Case[] = [
  {
    name: 'the most extreme quantile when it qualifies',
    values: [10, 8, 6, 4, 2],
    counts: { 10: 3, 8: 5 },
    threshold: 10,
    rule: 'quantile',
    fraction: 1e-8,
  },
  {
    name: 'the first qualifying quantile, most extreme first',
    values: [10, 8, 6, 4, 2],
    counts: { 10: 1, 8: 2, 6: 3, 4: 7 },
    threshold: 6,
    rule: 'quantile',
    fraction: 1e-6,
  },
  {
    name: 'null quantiles are skipped',
    values: [null, null, 6, 4, 2],
    counts: { 6: 4 },
    threshold: 6,
    rule: 'quantile',
    fraction: 1e-6,
  },
  {
    name: 'quantiles not beyond zero are skipped',
    values: [5, 3, 0, -1, -2],
    counts: { 5: 1, 3: 1 },
    threshold: 3,
    rule: 'least-extreme-quantile',
    fraction: 1e-7,
  },
  {
    name: 'none qualifies: the least extreme usable one',
    values: [10, 8, 6, 4, null],
    counts: { 10: 0, 8: 1, 6: 1, 4: 2 },
    threshold: 4,
    rule: 'least-extreme-quantile',
    fraction: 1e-5,
  },
  {
    name: 'the least extreme usable one marks nothing: a fraction of the strongest activation',
    values: [10, 8, 6, 4, null],
    counts: { 5: 2 },
    strongest: 10,
    threshold: 5,
    rule: 'fraction-of-strongest',
    fraction: null,
  },
  {
    name: 'none usable: a fraction of the strongest activation',
    values: [null, null, null, null, null],
    counts: { 4.5: 2 },
    strongest: 9,
    threshold: 4.5,
    rule: 'fraction-of-strongest',
    fraction: null,
  },
  {
    name: 'configured out of order: still most extreme first',
    values: [10, 8, 6, 4, 2],
    counts: { 10: 3, 2: 9 },
    fractions: [1e-4, 1e-8],
    threshold: 10,
    rule: 'quantile',
    fraction: 1e-8,
  },
  {
    name: 'only the configured fractions are tried',
    values: [10, 8, 6, 4, 2],
    counts: { 6: 1, 4: 3 },
    fractions: [1e-6, 1e-5],
    threshold: 4,
    rule: 'quantile',
    fraction: 1e-5,
  },
  {
    name: 'negative: mirrored, values are negative',
    sign: 'negative',
    values: [-10, -8, -6, -4, -2],
    counts: { [-10]: 1, [-8]: 3 },
    threshold: -8,
    rule: 'quantile',
    fraction: 1e-7,
  },
  {
    name: 'negative: positive values are not usable',
    sign: 'negative',
    values: [null, 1, 2, 3, 4],
    counts: { [-3]: 1 },
    strongest: -6,
    threshold: -3,
    rule: 'fraction-of-strongest',
    fraction: null,
  },
];

describe('chooseThreshold', () => {
  for (const c of cases) {
    it(c.name, () => {
      const tried: number[] = [];
      const choice = chooseThreshold({
        sign: c.sign ?? 'positive',
        quantiles: FRACTIONS.map((fraction, i) => ({ fraction, value: c.values[i]! })),
        fractions: c.fractions ?? FRACTIONS,
        minMarkedStrings: 3,
        countMarkedStrings: (t) => {
          tried.push(t);
          return c.counts[t] ?? 0;
        },
        strongest: c.strongest ?? (c.sign === 'negative' ? -10 : 10),
      });
      assert.equal(choice.threshold, c.threshold);
      assert.equal(choice.rule, c.rule);
      assert.equal(choice.fraction, c.fraction);
      assert.equal(choice.markedStrings, c.counts[c.threshold] ?? 0);
      assert.deepEqual(
        choice.trials.map((t) => t.fraction),
        [...(c.fractions ?? FRACTIONS)].sort((a, b) => a - b),
      );
      // No quantile is tried after the one chosen by the first rule.
      if (c.rule === 'quantile') assert.equal(tried[tried.length - 1], c.threshold);
    });
  }
  it('rejects a configured fraction the distribution does not hold, naming the key', () => {
    assert.throws(
      () =>
        chooseThreshold({
          sign: 'positive',
          quantiles: [{ fraction: 1e-4, value: 1 }],
          fractions: [1e-3],
          minMarkedStrings: 3,
          countMarkedStrings: () => 0,
          strongest: 1,
        }),
      (e: unknown) =>
        isExpgenError(e) && /describe\.thresholdQuantiles lists 1e-3.*holds 1e-4/.test((e as Error).message),
    );
  });
  it('signQuantiles reads a distribution row in TAIL_FRACTIONS order', () => {
    const row = { positiveQuantiles: [1, 2, 3, 4, null], negativeQuantiles: [-1, -2, -3, -4, -5] };
    assert.deepEqual(
      signQuantiles(row, 'positive', TAIL_FRACTIONS).map((q) => [q.fraction, q.value]),
      [
        [1e-4, 1],
        [1e-5, 2],
        [1e-6, 3],
        [1e-7, 4],
        [1e-8, null],
      ],
    );
    assert.equal(signQuantiles(row, 'negative', TAIL_FRACTIONS)[4]!.value, -5);
    assert.deepEqual(
      signQuantiles({ positiveQuantiles: [], negativeQuantiles: [] }, 'negative', TAIL_FRACTIONS).map((q) => q.value),
      [null, null, null, null, null],
    );
    assert.throws(
      () => signQuantiles({ positiveQuantiles: [1, 2], negativeQuantiles: [] }, 'positive', TAIL_FRACTIONS),
      /2 positive quantile values for 5 fractions/,
    );
  });
});
