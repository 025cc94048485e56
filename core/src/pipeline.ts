import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ExpgenError, formatFeatureKey, type FeatureKey, type Sign, type Logger } from '@expgen/contract';
import type { ExpgenConfig } from './config/config-schema.js';
import { describedKey, type DescribedFeature } from './describe/described-feature.js';
import { estimateDescribeStage, runDescribeStage, type DescribeEstimate } from './describe/describe-stage.js';
import { readRunCost, type RunCost } from './cost/stage-cost.js';
import type { RunComponents } from './engine/composition-root.js';
import { selectFeatures, type FeatureSelection } from './engine/feature-selection.js';
import { claimStageOutput, stageConfigHash } from './engine/stage-config.js';
import type { ShardSpec } from './exemplars/corpus/index.js';
import { ExemplarLibrary } from './exemplars/exemplar-library.js';
import { runExemplarStage, type ExemplarStageSummary } from './exemplars/exemplar-stage.js';
import { manifestPath } from './exemplars/storage/index.js';
import { runScoreStage, type ResultRow, type RunSummary } from './score/score-stage.js';
import { Journal } from './engine/journal.js';

export type StageName = 'exemplars' | 'describe' | 'score';

export interface PipelineOptions {
  readonly components: RunComponents;
  /** The resolved config, plugin options parsed (`resolveAllComponents`). */
  readonly config: ExpgenConfig;
  readonly outDir: string;
  /** Stages to run, in pipeline order. */
  readonly stages: readonly StageName[];
  /** Which features (`--features`); null: the config's `features`. */
  readonly features?: string | null;
  /** Folder `@file` feature lists start at. */
  readonly featuresBaseDir: string;
  /** Folder relative paths of the `describe` section start at (the prompt template). */
  readonly describeBaseDir: string;
  /** Finished stage 1 output to read instead of `<outDir>/exemplars` (e.g. merged from sequence shards). */
  readonly exemplarsDir?: string;
  /** Describe and score only features whose position in key order is `index` modulo `count`. */
  readonly featureShard?: ShardSpec;
  /** Stage 1 over a slice of the corpus (`expgen exemplars --shard`). */
  readonly sequenceShard?: ShardSpec;
  readonly logger: Logger;
  readonly progress?: boolean;
  /** Price stage 2 instead of running it (`--dry-run`): needs finished exemplars, sends and writes nothing. */
  readonly dryRun?: boolean;
}

export interface PipelineResult {
  readonly exemplarsDir: string;
  /** Stage 1's summary, when this call ran stage 1. */
  readonly exemplars?: ExemplarStageSummary;
  readonly estimate?: DescribeEstimate;
  readonly described?: readonly DescribedFeature[];
  readonly rows?: readonly ResultRow[];
  readonly summary?: RunSummary;
  /** What stages 2 and 3 cost in this run folder, resumed runs included (`cost.json`). */
  readonly cost?: RunCost;
}

/**
 * The whole pipeline over composed components, the library form of `expgen run` (and of each stage command):
 * stage 1 writes exemplars, stage 2 describes each feature and sign from them, stage 3 simulates, chooses on the
 * valid split and reports on the test split. Each stage resumes where a killed run stopped.
 */
export async function runPipeline(options: PipelineOptions): Promise<PipelineResult> {
  const { components, config, outDir, logger } = options;
  const { subject, activation } = components;
  if (!subject || !activation) throw new ExpgenError('the pipeline needs a subject model and an activation source');
  const featureSpec = options.features === undefined ? config.features : options.features;
  const selection: FeatureSelection = selectFeatures(featureSpec, activation, options.featuresBaseDir);
  const exemplarsDir = options.exemplarsDir ?? outDir;
  let exemplars: ExemplarStageSummary | undefined;

  if (options.stages.includes('exemplars') && !(options.dryRun && existsSync(manifestPath(outDir)))) {
    if (options.dryRun)
      throw new ExpgenError(
        `--dry-run prices the description calls from finished exemplars, and ${join(outDir, 'exemplars')} has none yet: run "expgen exemplars --out ${outDir}" first`,
      );
    if (options.exemplarsDir)
      throw new ExpgenError('--exemplars names finished stage 1 output: it cannot be combined with running stage 1');
    if (!components.datasets?.length) throw new ExpgenError('stage 1 needs at least one dataset');
    claimStageOutput(outDir, config, 'exemplars');
    exemplars = await runExemplarStage({
      subject,
      activation,
      datasets: components.datasets.map((source, i) => ({
        source,
        ratio: config.datasets[i]!.ratio,
        ...(config.datasets[i]!.name ? { name: config.datasets[i]!.name! } : {}),
      })),
      settings: config.exemplars,
      selection,
      outDir,
      configHash: stageConfigHash(config, 'exemplars'),
      ...(options.sequenceShard ? { shard: options.sequenceShard } : {}),
      logger,
      progress: options.progress ?? true,
    });
  }
  const stage1 = exemplars ? { exemplars } : {};
  if (!options.stages.includes('describe') && !options.stages.includes('score')) return { exemplarsDir, ...stage1 };

  if (!existsSync(manifestPath(exemplarsDir))) {
    throw new ExpgenError(
      `${join(exemplarsDir, 'exemplars')} holds no finished exemplars: run "expgen exemplars --out ${exemplarsDir}" first, or pass --exemplars DIR`,
    );
  }
  const library = ExemplarLibrary.open(exemplarsDir);
  try {
    const features = shardFeatures(library.features(selection), options.featureShard);
    const signs = activation.signs;
    if (options.dryRun) {
      if (!components.describer) throw new ExpgenError('--dry-run prices stage 2, which needs a describer');
      const estimate = await estimateDescribeStage({
        library,
        features,
        signs,
        describer: components.describer,
        tokenizer: subject.tokenizer,
        settings: config.describe,
        baseDir: options.describeBaseDir,
        outDir,
        logger,
      });
      return { exemplarsDir, ...stage1, estimate };
    }
    let described: DescribedFeature[] | undefined;
    if (options.stages.includes('describe')) {
      if (!components.describer) throw new ExpgenError('stage 2 needs a describer');
      claimStageOutput(outDir, config, 'describe');
      described = await runDescribeStage({
        library,
        features,
        signs,
        describer: components.describer,
        tokenizer: subject.tokenizer,
        settings: config.describe,
        baseDir: options.describeBaseDir,
        outDir,
        logger,
        progress: options.progress ?? true,
        chatDate: config.exemplars.chatDate,
      });
    }
    if (!options.stages.includes('score'))
      return { exemplarsDir, ...stage1, ...(described ? { described, cost: readRunCost(outDir) } : {}) };
    if (!components.simulator || !components.scorer) throw new ExpgenError('stage 3 needs a simulator and a scorer');
    described ??= readDescribed(outDir, features, signs);
    claimStageOutput(outDir, config, 'score');
    const { rows, summary } = await runScoreStage({
      library,
      described,
      // Work items are every feature with every sign, in that order: the keys travel with them, never re-parsed.
      keys: features.flatMap((key) => signs.map(() => key)),
      simulator: components.simulator,
      scorer: components.scorer,
      settings: config.score,
      outDir,
      logger,
      progress: options.progress ?? true,
    });
    return { exemplarsDir, ...stage1, described, rows, summary, cost: readRunCost(outDir) };
  } finally {
    await library.close();
  }
}

/** The features of one feature shard: those whose position in key order is `index` modulo `count`. */
export function shardFeatures(features: readonly FeatureKey[], shard: ShardSpec | undefined): FeatureKey[] {
  return shard ? features.filter((_, i) => i % shard.count === shard.index) : [...features];
}

/** Stage 2's records for the given features, for a `score` run after a separate `describe`. */
function readDescribed(outDir: string, features: readonly FeatureKey[], signs: readonly Sign[]): DescribedFeature[] {
  const path = join(outDir, 'descriptions', 'journal.jsonl');
  if (!existsSync(path))
    throw new ExpgenError(`${outDir} holds no descriptions: run "expgen describe --out ${outDir}" first`);
  const entries = Journal.read<DescribedFeature>(path, (e) => e.key);
  const out: DescribedFeature[] = [];
  const missing: string[] = [];
  for (const feature of features) {
    for (const sign of signs) {
      const key = describedKey(formatFeatureKey(feature), sign);
      const entry = entries.get(key);
      if (entry) out.push(entry);
      else missing.push(key);
    }
  }
  if (missing.length)
    throw new ExpgenError(
      `${path} lacks ${missing.length} feature-sign(s) (e.g. ${missing[0]}): finish "expgen describe" with the same options first`,
    );
  return out;
}
