import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tableFromIPC } from 'apache-arrow';
import type { Simulator } from '@expgen/contract';
import { fakeProvenance } from '@expgen/contract/testing';
import { readRunCost } from '../cost/stage-cost.js';
import type { DescribedFeature } from '../describe/described-feature.js';
import { ExemplarLibrary } from '../exemplars/exemplar-library.js';
import { formatSummary } from './format-summary.js';
import { NO_SELECTION_SCORE_REASON } from './result-states.js';
import {
  FEATURES,
  SEQ_LEN,
  countingSimulator,
  described,
  outputs,
  pearsonScorer,
  score,
  settings,
  writeExemplars,
} from './score-fixtures.test-util.js';

describe('stage 3', () => {
  const exemplars = mkdtempSync(join(tmpdir(), 'expgen-score-exemplars-'));
  writeExemplars(exemplars);
  const tokens = { valid: 9 * SEQ_LEN, test: 9 * SEQ_LEN };

  it('simulates identical candidate texts once and chooses the right one', async () => {
    const simulator = countingSimulator();
    const { rows, outDir } = await score(exemplars, { settings: settings(), simulator });
    for (const row of rows) {
      assert.equal(row.status, 'scored', JSON.stringify(row));
      const right =
        row.sign === 'positive' ? Number(row.feature.split('/')[2]) % 5 : (Number(row.feature.split('/')[2]) + 1) % 5;
      assert.equal(row.description, `tokens ≡ ${right}`);
      assert.equal(row.candidates, 5);
    }
    // Valid split: 3 distinct texts of 5 per feature-sign, in one call each.
    const selectionCalls = simulator.calls.filter((c) => c.descriptions.length > 1);
    assert.equal(selectionCalls.length, 2 * FEATURES);
    for (const call of selectionCalls) assert.equal(call.descriptions.length, 3);
    const detail = JSON.parse(readFileSync(join(outDir, 'features', 'mlp', 'layer-00', '0.positive.json'), 'utf8'));
    assert.equal(detail.chosen, 1);
    assert.deepEqual(
      detail.candidates.map((c: { same_as: number | null }) => c.same_as),
      [null, null, 0, null, 0],
    );
    assert.deepEqual(detail.candidates[2].selection_predictions, detail.candidates[0].selection_predictions);
    assert.equal(detail.candidates[2].selection_score, detail.candidates[0].selection_score);
  });

  it('counts simulator tokens, and what the naive method would have spent, into cost.json', async () => {
    const { cost, outDir } = await score(exemplars, { settings: settings() });
    const signs = 2 * FEATURES;
    // Per feature-sign: 3 distinct texts on the valid set, the choice on the test set, the null baseline there.
    assert.equal(cost.simulator_tokens, signs * (3 * tokens.valid + 2 * tokens.test));
    assert.equal(cost.simulator_tokens_naive, signs * (5 * tokens.valid + 2 * tokens.test));
    assert.equal(cost.feature_signs, signs);
    assert.ok(cost.host_seconds > 0);
    const run = readRunCost(outDir);
    assert.equal(run.score.simulator_tokens, cost.simulator_tokens);
    assert.equal(run.total.feature_signs, signs);
    assert.deepEqual(JSON.parse(readFileSync(join(outDir, 'cost.json'), 'utf8')), run);
  });

  it('writes byte-identical results and detail files whatever the number of threads', async () => {
    const one = await score(exemplars, { settings: settings({ concurrency: 1 }) });
    const three = await score(exemplars, { settings: settings({ concurrency: 3 }) });
    const halvingOne = await score(exemplars, {
      settings: settings({ concurrency: 1, selection: { top: 6, random: 3, strategy: 'halving' } }),
    });
    const halvingTwo = await score(exemplars, {
      settings: settings({ concurrency: 2, selection: { top: 6, random: 3, strategy: 'halving' } }),
    });
    assert.deepEqual(outputs(three.outDir), outputs(one.outDir));
    assert.deepEqual(outputs(halvingTwo.outDir), outputs(halvingOne.outDir));
    assert.equal(outputs(one.outDir).size, 2 + 2 * FEATURES);
  });

  it('a scorer evaluated by the workers, by this thread from moments, or by score() gives the same results', async () => {
    const fast = await score(exemplars, { settings: settings() });
    const moments = await score(exemplars, { settings: settings(), scorer: pearsonScorer('moments') });
    const slow = await score(exemplars, { settings: settings(), scorer: pearsonScorer('score') });
    assert.equal(
      readFileSync(join(moments.outDir, 'results.jsonl'), 'utf8'),
      readFileSync(join(fast.outDir, 'results.jsonl'), 'utf8'),
    );
    for (const [i, row] of fast.rows.entries()) {
      const other = slow.rows[i]!;
      assert.equal(row.description, other.description);
      for (const k of ['score', 'selection_score', 'pooled_score', 'null_score'] as const)
        assert.ok(Math.abs(row[k]! - other[k]!) < 1e-12, `${k}: ${row[k]} vs ${other[k]}`);
      assert.ok(row.ci && other.ci);
      assert.ok(Math.abs(row.ci[0] - other.ci[0]) < 1e-12 && Math.abs(row.ci[1] - other.ci[1]) < 1e-12);
    }
  });

  it('halving simulates fewer tokens than exhaustive and records how far each candidate got', async () => {
    const halving = settings({
      selection: { top: 6, random: 3, strategy: 'halving', halving: { firstSlice: 0.3, keep: 0.34, growth: 2 } },
    });
    const simulator = countingSimulator();
    const { rows, cost, outDir } = await score(exemplars, { settings: halving, simulator });
    const exhaustive = await score(exemplars, { settings: settings() });
    assert.deepEqual(
      rows.map((r) => r.description),
      exhaustive.rows.map((r) => r.description),
    );
    assert.ok(cost.simulator_tokens < exhaustive.cost.simulator_tokens);
    assert.equal(cost.simulator_tokens_naive, exhaustive.cost.simulator_tokens_naive);
    const detail = JSON.parse(readFileSync(join(outDir, 'features', 'mlp', 'layer-00', '2.negative.json'), 'utf8'));
    assert.equal(detail.strategy, 'halving');
    const chosen = detail.candidates[detail.chosen];
    assert.equal(chosen.sequences_scored, 9);
    assert.ok(chosen.selection_predictions.every((p: number[]) => p.length === SEQ_LEN));
    const dropped = detail.candidates.find((c: { sequences_scored: number }) => c.sequences_scored < 9);
    assert.ok(dropped, 'a halving round dropped a candidate');
    assert.equal(
      dropped.selection_predictions.filter((p: number[]) => p.length === 0).length,
      9 - dropped.sequences_scored,
    );
  });

  it('resumed after a failure, it repeats nothing and counts each feature once', async () => {
    const whole = await score(exemplars, { settings: settings() });
    const outDir = mkdtempSync(join(tmpdir(), 'expgen-score-resume-'));
    const broken = countingSimulator();
    const simulate = broken.simulate.bind(broken);
    broken.simulate = async (request) => {
      if (broken.calls.length >= 7) throw new Error('the simulator went away');
      return simulate(request);
    };
    await assert.rejects(score(exemplars, { settings: settings(), simulator: broken, outDir }), /went away/);
    const journaled = readFileSync(join(outDir, 'score', 'journal.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean).length;
    assert.ok(journaled > 0 && journaled < 2 * FEATURES, `${journaled} journaled`);
    const again = countingSimulator();
    const resumed = await score(exemplars, { settings: settings(), simulator: again, outDir });
    assert.equal(
      readFileSync(join(outDir, 'results.jsonl'), 'utf8'),
      readFileSync(join(whole.outDir, 'results.jsonl'), 'utf8'),
    );
    assert.equal(resumed.cost.feature_signs, 2 * FEATURES);
    assert.equal(resumed.cost.simulator_tokens, whole.cost.simulator_tokens);
    assert.equal(resumed.cost.simulator_tokens_naive, whole.cost.simulator_tokens_naive);
  });

  it('refuses a simulator answer of the wrong shape, naming its plugin', async () => {
    const wrong: Simulator = {
      provenance: fakeProvenance('simulator', 'short'),
      async simulate(request) {
        return {
          predictions: request.descriptions.map(() => request.sequences.map(() => new Float32Array(2))),
          mode: 'fake',
          simulatedBy: fakeProvenance('simulator', 'short'),
        };
      },
    };
    await assert.rejects(
      score(exemplars, { settings: settings(), simulator: wrong }),
      /plugin "@expgen\/core\/testing" failed in simulator "short" simulating mlp\/0\/0 \(positive\), valid split: .*one value per token/,
    );
  });

  it('gives each row without a test score a status of its own with the reason, and the summary counts each', async () => {
    // "valid only" varies on the valid split's sequences and is constant on every other; "never" is constant.
    const library = ExemplarLibrary.open(exemplars);
    const validSequences = new Set<string>();
    for (let f = 0; f < FEATURES; f++) {
      const rows = await library.exemplars({ space: 'mlp', layer: 0, index: f }, 'valid');
      for (const row of [...rows.positive, ...rows.negative, ...rows.random]) validSequences.add(row.tokens.join(','));
    }
    await library.close();
    const base = countingSimulator();
    const simulator: Simulator = {
      provenance: base.provenance,
      async simulate(request) {
        const answer = await base.simulate(request);
        const predictions = request.descriptions.map((d, i) =>
          d === 'valid only'
            ? request.sequences.map((tokens) =>
                Float32Array.from(tokens, (t) => (validSequences.has(tokens.join(',')) ? t % 5 : 1)),
              )
            : d === 'never'
              ? request.sequences.map((tokens) => new Float32Array(tokens.length).fill(3))
              : answer.predictions[i]!,
        );
        return { ...answer, predictions };
      },
    };
    const items = described().map((d): DescribedFeature => {
      const at = `${d.feature} ${d.sign}`;
      if (at === 'mlp/0/0 positive') return { ...d, candidates: [{ description: 'valid only', seed: 0 }] };
      if (at === 'mlp/0/1 positive') return { ...d, candidates: [{ description: 'never', seed: 0 }] };
      if (at === 'mlp/0/2 negative')
        return { ...d, status: 'failed', reason: 'every candidate failed (refusal)', candidates: [] };
      if (at === 'mlp/0/3 negative') return { ...d, status: 'skipped', reason: 'never negative', candidates: [] };
      return d;
    });
    const { rows, summary, outDir } = await score(exemplars, { settings: settings(), simulator, described: items });
    const row = (feature: string, sign: string) => rows.find((r) => r.feature === feature && r.sign === sign)!;

    const untested = row('mlp/0/0', 'positive');
    assert.equal(untested.status, 'no_test_score');
    assert.equal(untested.description, 'valid only', 'the chosen description is kept');
    assert.ok(untested.selection_score !== null, 'it was chosen on a defined valid-split score');
    assert.deepEqual([untested.score, untested.ci, untested.pearson, untested.null_score], [null, null, null, null]);
    assert.match(untested.reason!, /simulation of the chosen description is the same for every test token/);
    const unchosen = row('mlp/0/1', 'positive');
    assert.deepEqual(
      [unchosen.status, unchosen.description, unchosen.reason],
      ['no_selection_score', null, NO_SELECTION_SCORE_REASON],
    );
    assert.deepEqual(
      [row('mlp/0/2', 'negative').status, row('mlp/0/2', 'negative').reason],
      ['failed', 'every candidate failed (refusal)'],
    );
    assert.equal(row('mlp/0/3', 'negative').status, 'skipped');
    for (const r of rows) {
      assert.equal(
        r.status === 'scored',
        r.score !== null,
        `${r.feature} ${r.sign}: scored exactly when it has a score`,
      );
      assert.equal(r.status === 'scored', r.reason === null, `${r.feature} ${r.sign}: a reason for every other status`);
    }

    for (const r of rows)
      assert.deepEqual(
        [r.scores['pearson']!.status, r.scores['pearson']!.reason],
        [r.status, r.reason],
        "the selection scorer's entry says what the row says",
      );
    assert.deepEqual(summary.states, { scored: 8, no_test_score: 1, no_selection_score: 1, failed: 1, skipped: 1 });
    assert.deepEqual(summary.scores['pearson']!.states, summary.states);
    assert.equal(summary.feature_signs, 2 * FEATURES);
    const scored = rows.filter((r) => r.status === 'scored');
    assert.equal(summary.mean_score_rows, 8);
    assert.ok(Math.abs(summary.mean_score! - scored.reduce((s, r) => s + r.score!, 0) / 8) < 1e-12);
    const nulls = scored.filter((r) => r.null_score !== null);
    assert.equal(summary.null_baseline_rows, nulls.length);
    assert.ok(Math.abs(summary.null_baseline! - nulls.reduce((s, r) => s + r.null_score!, 0) / nulls.length) < 1e-12);
    const table = formatSummary(summary);
    assert.match(table, /^ {2}no test score \(chosen, constant on the test split\) +1$/m);
    assert.match(table, /^ {2}no selection score \(none chosen: constant on valid\) +1$/m);
    assert.match(table, /^ {2}mean score, test split \(95% CI\) +\d\.\d{3} \[.*\] over 8 scored rows$/m);
    assert.match(table, new RegExp(`over ${nulls.length} scored rows with a null score$`, 'm'));
    // The Arrow file says the same.
    const arrow = tableFromIPC(readFileSync(join(outDir, 'results.arrow')));
    assert.deepEqual(
      arrow.getChild('status')!.toArray(),
      rows.map((r) => r.status),
    );
  });

  it('writes the detail file exactly as JSON.stringify of the document would', async () => {
    const { outDir } = await score(exemplars, { settings: settings() });
    const path = join(outDir, 'features', 'mlp', 'layer-00', '3.positive.json');
    const text = readFileSync(path, 'utf8');
    assert.equal(text, `${JSON.stringify(JSON.parse(text))}\n`);
  });
});
