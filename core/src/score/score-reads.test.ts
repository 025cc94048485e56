import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { memoryLogger, type Scorer, type Simulator } from '@expgen/contract';
import { fakeProvenance } from '@expgen/contract/testing';
import { pearsonFromMoments, pooledStatistics, Sfc32 } from '@expgen/plugin-kit';
import { configSchema, type ExpgenConfig } from '../config/config-schema.js';
import type { DescribedFeature } from '../describe/described-feature.js';
import { provenanceRecord } from '../engine/output-records.js';
import { stampComponent } from '../engine/plugin-calls.js';
import { ExemplarLibrary } from '../exemplars/exemplar-library.js';
import {
  FEATURES_PER_BATCH,
  exemplarFilePath,
  writeExemplarFile,
  type ExemplarRowInput,
} from '../exemplars/storage/index.js';
import { writeFixtureManifest } from './score-fixtures.test-util.js';
import { runScoreStage } from './score-stage.js';
import { setScorerOf } from './set-scorer.js';

/**
 * How much stage 3 reads, in hardware-independent units: a stage that walks the features in order decodes each
 * record batch of the exemplar files a bounded number of times, whatever the number of features. The null
 * baseline's pairs are a random derangement over the whole selection: walked in row order, they made the library
 * decode a whole batch (256 features) per feature-sign, which made `expgen score` four times slower.
 */

const LAYERS = 2;
/** Two record batches per file, so that random pairs cross batches. */
const FEATURES = FEATURES_PER_BATCH + 44;
const SEQ_LEN = 6;

function writeExemplars(dir: string): void {
  for (const split of ['valid', 'test'])
    for (let layer = 0; layer < LAYERS; layer++) {
      const rows = function* (): Generator<ExemplarRowInput> {
        for (let feature = 0; feature < FEATURES; feature++) {
          const rng = new Sfc32(layer * 10_007 + feature * 2 + (split === 'valid' ? 0 : 1));
          const row = (sign: 'positive' | 'negative' | 'random', rank: number): ExemplarRowInput => {
            const tokens = Array.from({ length: SEQ_LEN }, () => rng.nextInt(20));
            const scale = sign === 'negative' ? -1 : 1;
            return {
              feature,
              sign,
              rank,
              activation: 0,
              sequence: rng.nextInt(10_000),
              dataset: 'fixture',
              document: null,
              window: null,
              countFrom: 1,
              tokens,
              activations: tokens.map((t) => scale * (t % 4 === feature % 4 ? 2 + rng.nextFloat() : rng.nextFloat())),
            };
          };
          for (let r = 0; r < 2; r++) yield row('positive', r);
          for (let r = 0; r < 2; r++) yield row('negative', r);
          yield row('random', 0);
        }
      };
      writeExemplarFile(
        exemplarFilePath(dir, { space: 'mlp', layer, split }),
        { configHash: 'x', features: FEATURES },
        rows(),
      );
    }
  writeFixtureManifest(dir, {
    seqLen: SEQ_LEN,
    k: 2,
    randomCount: 1,
    extremesKept: 2,
    layers: LAYERS,
    features: FEATURES,
  });
}

/** Predicts 1 on tokens ≡ r (mod 4) for the description "≡ r". */
const residueSimulator: Simulator = {
  provenance: fakeProvenance('simulator', 'residues'),
  async simulate(request) {
    return {
      predictions: request.descriptions.map((d) => {
        const r = Number(/≡ (\d)/.exec(d)?.[1] ?? -1);
        return request.sequences.map((tokens) => Float32Array.from(tokens, (t) => (t % 4 === r ? 1 : 0)));
      }),
      mode: 'fake',
      simulatedBy: fakeProvenance('simulator', 'residues'),
    };
  },
};

const correlationScorer: Scorer = {
  provenance: fakeProvenance('scorer', 'correlation'),
  score: (request) => ({
    value: pooledStatistics(request.actual.map((actual, s) => ({ predicted: request.predicted[s]!, actual }))).pearson,
    stats: {},
    scoredBy: fakeProvenance('scorer', 'correlation'),
  }),
  valueFromMoments: pearsonFromMoments,
};

function described(): DescribedFeature[] {
  const out: DescribedFeature[] = [];
  for (let layer = 0; layer < LAYERS; layer++)
    for (let f = 0; f < FEATURES; f++)
      for (const sign of ['positive', 'negative'] as const)
        out.push({
          feature: `mlp/${layer}/${f}`,
          sign,
          status: 'described',
          reason: null,
          candidates: [`tokens ≡ ${f % 4}`, `tokens ≡ ${(f + 1) % 4}`].map((description, seed) => ({
            description,
            seed,
          })),
          failures: [],
          exemplar_ranks: [],
          threshold: null,
          threshold_rule: null,
          described_by: provenanceRecord(fakeProvenance('describer')),
          usage: null,
        });
  return out;
}

function settings(): ExpgenConfig['score'] {
  return configSchema.parse({
    subject: { component: 's' },
    activation: { component: 'a' },
    datasets: [{ component: 'd' }],
    describer: { component: 'd' },
    simulator: { component: 's' },
    scorer: { component: 's' },
    score: { selection: { top: 2, random: 1 }, report: { top: 2, random: 1 }, bootstrap: 20, concurrency: 1 },
  }).score;
}

describe('stage 3 reading', () => {
  const dir = mkdtempSync(join(tmpdir(), 'expgen-score-reads-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  writeExemplars(dir);

  it('decodes each record batch of the exemplar files at most twice (scoring, then the null baseline)', async () => {
    const library = ExemplarLibrary.open(dir);
    const outDir = join(dir, 'run');
    try {
      const { rows } = await runScoreStage({
        library,
        described: described(),
        simulator: residueSimulator,
        scorer: correlationScorer,
        settings: settings(),
        outDir,
        logger: memoryLogger(),
        progress: false,
      });
      assert.equal(rows.length, 2 * LAYERS * FEATURES);
      // The null baseline ran on this data: most rows have a null score, drawn from other batches and layers.
      assert.ok(rows.filter((r) => r.null_score !== null).length > rows.length / 2);
      const batches = LAYERS * 2 * Math.ceil(FEATURES / FEATURES_PER_BATCH); // layers x splits x batches per file
      // Scoring reads the valid and test batches once each; the null baseline reads the test batches again.
      assert.ok(
        library.batchesDecoded <= 2 * batches,
        `${library.batchesDecoded} batch decodes for ${batches} batches of ${rows.length} feature-signs`,
      );
    } finally {
      await library.close();
    }
  });

  it("recognises the kit's Pearson behind the plugin-call stamp, so worker threads evaluate the bootstrap", () => {
    const stamped = stampComponent(correlationScorer, {
      kind: 'scorer',
      component: 'correlation',
      plugin: '@expgen/plugin-baseline',
    });
    assert.notEqual(stamped.valueFromMoments, pearsonFromMoments);
    assert.equal(setScorerOf(stamped).knownStatistic, 'pearson');
    const own = stampComponent(
      {
        ...correlationScorer,
        valueFromMoments: (m: Parameters<typeof pearsonFromMoments>[0]) => pearsonFromMoments(m),
      },
      { kind: 'scorer', component: 'own', plugin: 'p' },
    );
    assert.equal(setScorerOf(own).knownStatistic, null);
  });
});
