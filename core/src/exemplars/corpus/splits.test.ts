import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { documentSplit, splitAssignment, splitFraction, type SplitName } from './splits.js';

function tally(shares: Record<string, number>, seed: number, ids: number): Record<SplitName, number> {
  const assignment = splitAssignment(shares);
  const counts: Record<SplitName, number> = { train: 0, valid: 0, test: 0 };
  for (let i = 0; i < ids; i++) counts[documentSplit(assignment, seed, `doc-${i}`)]++;
  return counts;
}

describe('splits', () => {
  it('is sha256(seed \\0 id) read as a 53-bit fraction, so other languages can recompute it', () => {
    for (const [seed, id] of [
      [0, 'a'],
      [7, 'dökument/ü'],
      [123456, ''],
    ] as const) {
      const hex = createHash('sha256').update(`${seed}\u0000${id}`).digest('hex');
      const expected = Number(BigInt(`0x${hex.slice(0, 16)}`) >> 11n) / 2 ** 53;
      assert.equal(splitFraction(seed, id), expected);
    }
  });

  it('depends only on seed and id', () => {
    const a = splitAssignment({ train: 1, valid: 1, test: 1 });
    const ids = Array.from({ length: 200 }, (_, i) => `id-${i}`);
    const first = ids.map((id) => documentSplit(a, 3, id));
    const again = [...ids]
      .reverse()
      .map((id) => documentSplit(a, 3, id))
      .reverse();
    assert.deepEqual(again, first);
    const otherSeed = ids.map((id) => documentSplit(a, 4, id));
    assert.notDeepEqual(otherSeed, first);
  });

  it('lays the shares onto the ids in proportion', () => {
    const n = 30_000;
    const equal = tally({ train: 1, valid: 1, test: 1 }, 0, n);
    for (const split of ['train', 'valid', 'test'] as const)
      assert.ok(Math.abs(equal[split] / n - 1 / 3) < 0.015, `${split}: ${equal[split]}`);
    const skewed = tally({ train: 8, valid: 1, test: 1 }, 5, n);
    assert.ok(Math.abs(skewed.train / n - 0.8) < 0.015, `train ${skewed.train}`);
    assert.ok(Math.abs(skewed.valid / n - 0.1) < 0.01, `valid ${skewed.valid}`);
    assert.ok(Math.abs(skewed.test / n - 0.1) < 0.01, `test ${skewed.test}`);
  });

  it('leaves a split with share 0 empty, and a missing split counts as 0', () => {
    assert.deepEqual(tally({ train: 0, valid: 2, test: 0 }, 1, 2000), { train: 0, valid: 2000, test: 0 });
    const noTest = tally({ train: 1, valid: 1 }, 1, 4000);
    assert.equal(noTest.test, 0);
    assert.ok(noTest.train > 1800 && noTest.valid > 1800);
    assert.deepEqual(splitAssignment({ train: 0.1, valid: 0.2, test: 0 }).bounds.slice(1), [1, 1]);
  });

  it('rejects unknown names, bad shares and an all-zero split', () => {
    const expectError = (shares: Record<string, number>, pattern: RegExp) =>
      assert.throws(
        () => splitAssignment(shares),
        (e: unknown) => isExpgenError(e) && pattern.test((e as Error).message),
      );
    expectError({ train: 1, validation: 1 }, /^exemplars\.splits\.validation: unknown split "validation"/);
    expectError({ train: -1 }, /^exemplars\.splits\.train: .*>= 0, got -1/);
    expectError({ train: Number.NaN }, /^exemplars\.splits\.train:/);
    expectError({ train: 0, valid: 0, test: 0 }, /^exemplars\.splits: at least one split/);
  });
});
