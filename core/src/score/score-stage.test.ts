import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { memoryLogger, type SimulationScorer, type Simulator, type TokenMoments } from '@expgen/contract';
import { fakeProvenance } from '@expgen/contract/testing';
import { pearsonFromMoments, pooledStatistics, Sfc32 } from '@expgen/plugin-kit';
import { configSchema, type ExpgenConfig } from '../config/config-schema.js';
import { readRunCost } from '../cost/stage-cost.js';
import type { DescribedFeature } from '../describe/described-feature.js';
import { ExemplarLibrary } from '../exemplars/exemplar-library.js';
import {
  MANIFEST_FORMAT,
  exemplarFilePath,
  writeExemplarFile,
  writeExemplarManifest,
  type ExemplarRowInput,
} from '../exemplars/storage/index.js';
import { runScoreStage } from './score-stage.js';

const SEQ_LEN = 12;
const FEATURES = 6;

/**
 * A small stage 1 output written with the storage code: feature f fires on tokens ≡ f (mod 5) in its top
 * exemplars (positive) and on tokens ≡ f + 1 (mod 5) negatively; random sequences rarely fire.
 */
function writeExemplars(dir: string): void {
  for (const split of ['valid', 'test']) {
    const rows = function* (): Generator<ExemplarRowInput> {
      for (let feature = 0; feature < FEATURES; feature++) {
        const rng = new Sfc32(feature * 17 + (split === 'valid' ? 1 : 2));
        const row = (sign: 'positive' | 'negative' | 'random', rank: number): ExemplarRowInput => {
          const tokens = Array.from({ length: SEQ_LEN }, () => rng.nextInt(50));
          const activations = tokens.map((t, i) => {
            if (i === 0) return 0.5;
            if (sign === 'positive') return t % 5 === feature % 5 ? 2 + rng.nextFloat() : 0.1 * rng.nextFloat();
            if (sign === 'negative') return t % 5 === (feature + 1) % 5 ? -2 - rng.nextFloat() : -0.1 * rng.nextFloat();
            return (rng.nextFloat() - 0.5) * 0.4;
          });
          return {
            feature,
            sign,
            rank,
            activation: 0,
            sequence: rng.nextInt(10_000),
            dataset: 'fixture',
            document: `doc-${rank}`,
            window: 0,
            countFrom: 1,
            tokens,
            activations,
          };
        };
        for (let r = 0; r < 6; r++) yield row('positive', r);
        for (let r = 0; r < 6; r++) yield row('negative', r);
        for (let r = 0; r < 3; r++) yield row('random', r);
      }
    };
    writeExemplarFile(
      exemplarFilePath(dir, { space: 'mlp', layer: 0, split }),
      { configHash: 'x', features: FEATURES },
      rows(),
    );
  }
  writeExemplarManifest(dir, {
    format: MANIFEST_FORMAT,
    configHash: 'x',
    shard: { index: 0, count: 1 },
    complete: true,
    parameters: {
      seqLen: SEQ_LEN,
      k: 6,
      randomCount: 3,
      randomSeed: '0',
      extremesKept: 10,
      histogram: null,
      histogramSample: 1,
      countedFrom: 1,
    },
    datasets: ['fixture'],
    splits: { valid: { sequencesSeen: null, tokensSeen: null }, test: { sequencesSeen: null, tokensSeen: null } },
    layers: [{ space: 'mlp', layer: 0, features: FEATURES }],
  });
}

/** "tokens ≡ r (mod 5)": predicts 10 there, else 1; other texts predict a token-dependent wobble. */
function countingSimulator(): Simulator & { calls: { descriptions: readonly string[]; sequences: number }[] } {
  const calls: { descriptions: readonly string[]; sequences: number }[] = [];
  return {
    provenance: fakeProvenance('simulator', 'residues'),
    calls,
    async simulate(request) {
      calls.push({ descriptions: request.descriptions, sequences: request.sequences.length });
      return {
        predictions: request.descriptions.map((d) => {
          const residue = /≡ (\d)/.exec(d);
          return request.sequences.map((tokens) =>
            Float32Array.from(tokens, (t) => (residue ? (t % 5 === Number(residue[1]) ? 10 : 1) : (t * 7) % 3)),
          );
        }),
        mode: 'fake',
        simulatedBy: fakeProvenance('simulator', 'residues'),
      };
    },
  };
}

/**
 * Pearson's r three ways: `known` offers the kit's own `pearsonFromMoments` (worker threads evaluate it themselves),
 * `moments` a function of its own (this thread evaluates the resampled sums), `score` no moments at all.
 */
function pearsonScorer(how: 'known' | 'moments' | 'score'): SimulationScorer {
  return {
    provenance: fakeProvenance('scorer', 'pearson'),
    score: (request) => ({
      value: pooledStatistics(request.actual.map((actual, s) => ({ predicted: request.predicted[s]!, actual })))
        .pearson,
      stats: {},
      scoredBy: fakeProvenance('scorer', 'pearson'),
    }),
    ...(how === 'known' ? { valueFromMoments: pearsonFromMoments } : {}),
    ...(how === 'moments' ? { valueFromMoments: (m: TokenMoments) => pearsonFromMoments(m) } : {}),
  };
}

/** Five candidates per feature-sign, two of them repeating the first (one with extra spaces). */
function described(): DescribedFeature[] {
  const out: DescribedFeature[] = [];
  for (let f = 0; f < FEATURES; f++)
    for (const sign of ['positive', 'negative'] as const) {
      const right = sign === 'positive' ? f % 5 : (f + 1) % 5;
      const texts = [
        `tokens ≡ ${(right + 2) % 5}`,
        `tokens ≡ ${right}`,
        `  tokens ≡ ${(right + 2) % 5} `,
        `tokens ≡ ${(right + 3) % 5}`,
        `tokens ≡ ${(right + 2) % 5}`,
      ];
      out.push({
        key: `mlp/0/${f}:${sign}`,
        feature: `mlp/0/${f}`,
        sign,
        status: 'described',
        reason: null,
        candidates: texts.map((description, seed) => ({ description, seed })),
        failures: [],
        exemplarRanks: [],
        threshold: null,
        thresholdRule: null,
        describedBy: fakeProvenance('describer'),
        usage: null,
      });
    }
  return out;
}

function settings(overrides: Record<string, unknown> = {}): ExpgenConfig['score'] {
  const config = configSchema.parse({
    subject: { component: 's' },
    activation: { component: 'a' },
    datasets: [{ component: 'd' }],
    describer: { component: 'd' },
    simulator: { component: 's' },
    scorer: { component: 's' },
    score: {
      selection: { top: 6, random: 3, strategy: 'exhaustive' },
      report: { top: 6, random: 3 },
      bootstrap: 200,
      ...overrides,
    },
  });
  return config.score;
}

async function score(
  exemplarsDir: string,
  options: { settings: ExpgenConfig['score']; simulator?: Simulator; scorer?: SimulationScorer; outDir?: string },
) {
  const library = ExemplarLibrary.open(exemplarsDir);
  const outDir = options.outDir ?? mkdtempSync(join(tmpdir(), 'expgen-score-'));
  try {
    const result = await runScoreStage({
      library,
      described: described(),
      simulator: options.simulator ?? countingSimulator(),
      scorer: options.scorer ?? pearsonScorer('known'),
      settings: options.settings,
      outDir,
      logger: memoryLogger(),
      progress: false,
    });
    return { ...result, outDir };
  } finally {
    await library.close();
  }
}

/** Every output file of a run folder (results and per-feature detail), by relative path. */
function outputs(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      if (statSync(full).isDirectory()) walk(full);
      else files.set(full.slice(dir.length), readFileSync(full, 'latin1'));
    }
  };
  walk(join(dir, 'features'));
  for (const f of ['results.jsonl', 'results.arrow']) files.set(f, readFileSync(join(dir, f), 'latin1'));
  return files;
}

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
      detail.candidates.map((c: { sameAs: number | null }) => c.sameAs),
      [null, null, 0, null, 0],
    );
    assert.deepEqual(detail.candidates[2].selectionPredictions, detail.candidates[0].selectionPredictions);
    assert.equal(detail.candidates[2].selectionScore, detail.candidates[0].selectionScore);
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
      for (const k of ['score', 'selectionScore', 'pooledScore', 'nullScore'] as const)
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
    assert.equal(chosen.sequencesScored, 9);
    assert.ok(chosen.selectionPredictions.every((p: number[]) => p.length === SEQ_LEN));
    const dropped = detail.candidates.find((c: { sequencesScored: number }) => c.sequencesScored < 9);
    assert.ok(dropped, 'a halving round dropped a candidate');
    assert.equal(
      dropped.selectionPredictions.filter((p: number[]) => p.length === 0).length,
      9 - dropped.sequencesScored,
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

  it('writes the detail file exactly as JSON.stringify of the document would', async () => {
    const { outDir } = await score(exemplars, { settings: settings() });
    const path = join(outDir, 'features', 'mlp', 'layer-00', '3.positive.json');
    const text = readFileSync(path, 'utf8');
    assert.equal(text, `${JSON.stringify(JSON.parse(text))}\n`);
  });
});
