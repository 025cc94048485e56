import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fakeProvenance } from '@expgen/contract/testing';
import { pearsonFromMoments } from '@expgen/plugin-kit';
import type { ExemplarRow } from '../exemplars/storage/index.js';
import { interleavedOrder, type ScoringSequences } from './scoring-sequences.js';
import { exhaustiveSelection, halvingPlan, halvingSelection, type SelectionProblem } from './selection-strategies.js';
import { setScorerOf } from './set-scorer.js';

const scorer = setScorerOf({
  provenance: fakeProvenance('scorer'),
  score: () => {
    throw new Error('the moments path is used');
  },
  valueFromMoments: pearsonFromMoments,
});

/** 20 top and 5 random sequences of 8 tokens; the true activation at position t of sequence s is (s + t) % 4. */
function sequences(): ScoringSequences {
  const rows = Array.from({ length: 25 }, (_, s) => ({
    feature: 0,
    sign: s < 20 ? 'positive' : 'random',
    rank: s < 20 ? s : s - 20,
    activation: 0,
    sequence: s,
    dataset: 'x',
    document: null,
    window: null,
    countFrom: 0,
    tokens: new Int32Array(8),
    activations: Float32Array.from({ length: 8 }, (_, t) => (s + t) % 4),
  })) as ExemplarRow[];
  return { rows, strata: rows.map((r) => (r.sign === 'random' ? 'random' : 'top')), tokens: 25 * 8 };
}

/**
 * Candidate "q" predicts the truth plus noise of amplitude q (deterministic per row and token), so a lower q is a
 * better description; "flat" predicts a constant. Every simulate call is recorded.
 */
function problem(descriptions: string[]): SelectionProblem & { calls: { descriptions: string[]; rows: number[] }[] } {
  const set = sequences();
  const calls: { descriptions: string[]; rows: number[] }[] = [];
  return {
    sign: 'positive',
    sequences: set,
    descriptions,
    scorer,
    calls,
    async simulate(ds, rows) {
      calls.push({ descriptions: [...ds], rows: [...rows] });
      return ds.map((d) =>
        rows.map((r) =>
          Float32Array.from(set.rows[r]!.activations, (a, t) =>
            d === 'flat' ? 1 : a + Number(d) * Math.sin(r * 13.7 + t * 3.1 + Number(d)),
          ),
        ),
      );
    },
  };
}

const HALVING = { firstSlice: 0.2, keep: 0.34, growth: 2 };

describe('selection strategies', () => {
  it('the interleaved order mixes the strata in proportion in every prefix', () => {
    const order = interleavedOrder(sequences().strata);
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      Array.from({ length: 25 }, (_, i) => i),
    );
    for (let n = 5; n <= 25; n += 5) {
      const random = order.slice(0, n).filter((i) => i >= 20).length;
      assert.equal(random, n / 5, `prefix ${n}: ${order.slice(0, n)}`);
    }
    // Earliest ranks first within a stratum.
    assert.deepEqual(
      order.filter((i) => i < 20),
      Array.from({ length: 20 }, (_, i) => i),
    );
  });

  it('exhaustive: every candidate on every row, the best defined score chosen', async () => {
    const p = problem(['3', '0.5', 'flat', '2']);
    const outcome = await exhaustiveSelection(p);
    assert.equal(outcome.chosen, 1);
    assert.equal(p.calls.length, 1);
    assert.equal(outcome.scores[2], null, 'a constant prediction has no score');
    assert.deepEqual(outcome.evaluatedOn, [25, 25, 25, 25]);
  });

  it('halving: the same choice, no row simulated twice for a candidate, survivors simulated on the whole set', async () => {
    const noise = ['4', '3.5', '0.3', '5', '2.5', '6', '3', '4.5', '2', '5.5', 'flat', '1.5'];
    const p = problem(noise);
    const outcome = await halvingSelection(p, HALVING);
    const reference = await exhaustiveSelection(problem(noise));
    assert.equal(outcome.chosen, reference.chosen);
    assert.equal(noise[outcome.chosen!], '0.3');
    const seen = new Set<string>();
    let simulated = 0;
    for (const call of p.calls)
      for (const d of call.descriptions)
        for (const r of call.rows) {
          assert.ok(!seen.has(`${d}/${r}`), `${d} simulated twice on row ${r}`);
          seen.add(`${d}/${r}`);
          simulated++;
        }
    assert.ok(simulated < noise.length * 25 * 0.5, `${simulated} of ${noise.length * 25} candidate-rows`);
    assert.deepEqual(halvingPlan(noise.length, 25, HALVING), { pairs: simulated, rounds: outcome.rounds });
    assert.equal(outcome.evaluatedOn[outcome.chosen!], 25);
    assert.ok(outcome.predictions[outcome.chosen!]!.every((x) => x !== undefined));
    assert.equal(p.calls[0]!.rows.length, 5, 'the first slice is 20% of the set');
    assert.equal(p.calls[0]!.descriptions.length, noise.length, 'every candidate is in the first round');
    assert.ok(outcome.rounds > 1);
  });

  it('halving prunes nothing in a round where no candidate has a defined score', async () => {
    const p = problem(['flat', 'also flat']);
    p.simulate = async (ds, rows) => ds.map(() => rows.map(() => new Float32Array(8).fill(2)));
    const outcome = await halvingSelection(p, HALVING);
    assert.equal(outcome.chosen, null);
    assert.deepEqual(outcome.evaluatedOn, [25, 25]);
  });
});
