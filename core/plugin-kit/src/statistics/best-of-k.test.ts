import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { selectBestOfK, type Candidate } from './best-of-k.js';
import { pooledPearson } from './pooled.js';
import type { ScoreSet } from './types.js';

/**
 * Sets split into two sequences each (so the bootstrap has units to resample):
 *   up:    x = [1, 2, 3, 4], y = [2, 4, 5, 9]  r = 11/√130 ≈ 0.9648
 *   mid:   x = [1, 2, 3, 4], y = [4, 2, 5, 9]  dy = [−1, −3, 0, 4], sxy = 1.5 + 1.5 + 0 + 6 = 9, syy = 26,
 *                                             r = 9/√130 ≈ 0.7894
 *   down:  x = [4, 3, 2, 1], y = [2, 4, 5, 9]  r = −11/√130
 */
const set = (x: number[], y: number[]): ScoreSet => [
  { predicted: x.slice(0, 2), actual: y.slice(0, 2) },
  { predicted: x.slice(2), actual: y.slice(2) },
];
const up = set([1, 2, 3, 4], [2, 4, 5, 9]);
const mid = set([1, 2, 3, 4], [4, 2, 5, 9]);
const down = set([4, 3, 2, 1], [2, 4, 5, 9]);
const flat = set([5, 5, 5, 5], [2, 4, 5, 9]);
const R = 11 / Math.sqrt(130);
const options = { resamples: 200, seed: 1 };

/** A candidate whose report set throws if read: proves a choice never looks at it. */
function sealed(description: string, selection: ScoreSet): Candidate {
  return {
    description,
    selection,
    get report(): ScoreSet {
      throw new Error(`report set of ${description} was read`);
    },
  };
}

describe('selectBestOfK', () => {
  it('chooses on the selection set and reports the TEST score of that choice, not the test-best', () => {
    // A wins on selection (0.96 > 0.79) but is inverted on test; B would have won on test. The reported score must
    // be A's test score (−0.96), and the selection score A's selection score.
    const result = selectBestOfK(
      {
        candidates: [
          { description: 'A', selection: up, report: down },
          { description: 'B', selection: mid, report: up },
        ],
      },
      options,
    );
    assert.equal(result.chosen, 0);
    assert.equal(result.description, 'A');
    assert.ok(Math.abs(result.selectionScore! - R) < 1e-12);
    assert.ok(Math.abs(result.score! + R) < 1e-12);
    assert.ok(Math.abs(result.selectionScores[1]! - 9 / Math.sqrt(130)) < 1e-12);
  });

  it('never reads the report sets of candidates that were not chosen', () => {
    const result = selectBestOfK(
      { candidates: [sealed('low', mid), { description: 'best', selection: up, report: up }, sealed('worst', down)] },
      options,
    );
    assert.equal(result.chosen, 1);
    assert.ok(Math.abs(result.score! - R) < 1e-12);
  });

  it('never chooses a null score, even over negative ones', () => {
    const result = selectBestOfK(
      { candidates: [sealed('flat', flat), { description: 'down', selection: down, report: up }] },
      options,
    );
    assert.equal(result.chosen, 1);
    assert.deepEqual(
      result.selectionScores.map((s) => s === null),
      [true, false],
    );
  });

  it('breaks ties by the lower index', () => {
    const result = selectBestOfK(
      {
        candidates: [
          sealed('first-low', mid),
          { description: 'first-tie', selection: up, report: mid },
          sealed('second-tie', up),
        ],
      },
      options,
    );
    assert.equal(result.chosen, 1);
    assert.equal(result.description, 'first-tie');
  });

  it('chooses nothing when every score is null or there are no candidates', () => {
    const none = { chosen: null, description: null, selectionScore: null, score: null, ci: null };
    const all = selectBestOfK({ candidates: [sealed('a', flat), sealed('b', flat)] }, options);
    assert.deepEqual({ ...all, selectionScores: undefined }, { ...none, selectionScores: undefined });
    assert.deepEqual(all.selectionScores, [null, null]);
    assert.deepEqual(selectBestOfK({ candidates: [] }, options), { ...none, selectionScores: [] });
  });

  it("reports a bootstrap interval over the report set's sequences, deterministic by seed", () => {
    const report: ScoreSet = [...up, ...set([0, 1, 5, 6], [0, 1, 4, 7]), ...set([2, 2, 8, 3], [1, 3, 9, 2])];
    const candidates = [{ description: 'x', selection: up, report }];
    const a = selectBestOfK({ candidates }, { resamples: 500, seed: 9 });
    const b = selectBestOfK({ candidates }, { resamples: 500, seed: 9 });
    assert.deepEqual(a, b);
    assert.equal(a.score, pooledPearson(report));
    assert.ok(a.ci !== null && a.ci.low <= a.score! && a.score! <= a.ci.high, JSON.stringify(a));
    assert.equal(a.ci.resamples, 500);
  });

  it('takes another score function (higher is better)', () => {
    const negated = (s: ScoreSet) => {
      const r = pooledPearson(s);
      return r === null ? null : -r;
    };
    const result = selectBestOfK(
      { candidates: [sealed('up', up), { description: 'down', selection: down, report: down }] },
      { ...options, score: negated },
    );
    assert.equal(result.chosen, 1);
    assert.ok(Math.abs(result.score! - R) < 1e-12);
  });
});
