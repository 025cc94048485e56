// Fixtures of the stage 3 tests (not a test file itself): a small stage 1 output, a simulator and scorers.
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryLogger, type Scorer, type SimulationScorer, type Simulator, type TokenMoments } from '@expgen/contract';
import { fakeProvenance } from '@expgen/contract/testing';
import { pearsonFromMoments, pooledStatistics, Sfc32 } from '@expgen/plugin-kit';
import { configSchema, type ExpgenConfig } from '../config/config-schema.js';
import type { DescribedFeature } from '../describe/described-feature.js';
import { provenanceRecord } from '../engine/output-records.js';
import { ExemplarLibrary } from '../exemplars/exemplar-library.js';
import {
  MANIFEST_FORMAT,
  exemplarFilePath,
  writeExemplarFile,
  writeExemplarManifest,
  type ExemplarRowInput,
} from '../exemplars/storage/index.js';
import { runScoreStage } from './score-stage.js';

export const SEQ_LEN = 12;
export const FEATURES = 6;

/**
 * A small stage 1 output written with the storage code: feature f fires on tokens ≡ f (mod 5) in its top
 * exemplars (positive) and on tokens ≡ f + 1 (mod 5) negatively; random sequences rarely fire.
 */
export function writeExemplars(dir: string): void {
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
  writeFixtureManifest(dir, { seqLen: SEQ_LEN, k: 6, randomCount: 3, extremesKept: 10, layers: 1, features: FEATURES });
}

/** The manifest of a fixture's exemplar files: a finished, unsharded stage 1 over `layers` MLP layers. */
export function writeFixtureManifest(
  dir: string,
  shape: { seqLen: number; k: number; randomCount: number; extremesKept: number; layers: number; features: number },
): void {
  writeExemplarManifest(dir, {
    format: MANIFEST_FORMAT,
    configHash: 'x',
    shard: { index: 0, count: 1 },
    complete: true,
    parameters: {
      seqLen: shape.seqLen,
      k: shape.k,
      randomCount: shape.randomCount,
      randomSeed: '0',
      extremesKept: shape.extremesKept,
      histogram: null,
      histogramSample: 1,
      countedFrom: 1,
    },
    datasets: ['fixture'],
    splits: { valid: { sequencesSeen: null, tokensSeen: null }, test: { sequencesSeen: null, tokensSeen: null } },
    layers: Array.from({ length: shape.layers }, (_, layer) => ({ space: 'mlp', layer, features: shape.features })),
  });
}

/** "tokens ≡ r (mod 5)": predicts 10 there, else 1; other texts predict a token-dependent wobble. */
export function countingSimulator(): Simulator & { calls: { descriptions: readonly string[]; sequences: number }[] } {
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
export function pearsonScorer(how: 'known' | 'moments' | 'score'): SimulationScorer {
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
export function described(): DescribedFeature[] {
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
        feature: `mlp/0/${f}`,
        sign,
        status: 'described',
        reason: null,
        candidates: texts.map((description, seed) => ({ description, seed })),
        failures: [],
        exemplar_ranks: [],
        threshold: null,
        threshold_rule: null,
        described_by: provenanceRecord(fakeProvenance('describer')),
        usage: null,
      });
    }
  return out;
}

export function settings(overrides: Record<string, unknown> = {}): ExpgenConfig['score'] {
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

export async function score(
  exemplarsDir: string,
  options: {
    settings: ExpgenConfig['score'];
    simulator?: Simulator;
    scorer?: SimulationScorer;
    reported?: readonly { name: string; scorer: Scorer; sameAsSelection: boolean }[];
    outDir?: string;
    described?: DescribedFeature[];
  },
) {
  const library = ExemplarLibrary.open(exemplarsDir);
  const outDir = options.outDir ?? mkdtempSync(join(tmpdir(), 'expgen-score-'));
  try {
    const result = await runScoreStage({
      library,
      described: options.described ?? described(),
      simulator: options.simulator ?? countingSimulator(),
      scorer: options.scorer ?? pearsonScorer('known'),
      ...(options.reported ? { reported: options.reported } : {}),
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
export function outputs(dir: string): Map<string, string> {
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
