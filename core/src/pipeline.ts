import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ExpgenError, formatFeatureKey, type FeatureKey, type Sign } from '@expgen/contract';
import type { ExpgenConfig } from './config/config-schema.js';
import { describedKey, type DescribedFeature } from './describe/described-feature.js';
import {
  upgradeJournaledDescription,
  withoutCost,
  type DescribeEstimate,
  type JournaledDescription,
} from './describe/describe-stage.js';
import type { ComposedRun } from './engine/composition-root.js';
import { checkSelectionHeld, selectFeatures, type FeatureSelection } from './engine/feature-selection.js';
import type { Interrupts } from './engine/interrupts.js';
import { checkStageOutput, claimStageOutput, stageConfigHash } from './engine/stage-config.js';
import { readRunCost, type RunCost } from './cost/stage-cost.js';
import type { ShardSpec } from './exemplars/corpus/index.js';
import { ExemplarLibrary } from './exemplars/exemplar-library.js';
import type { ExemplarStageSummary } from './exemplars/exemplar-stage.js';
import { manifestPath, readExemplarManifest } from './exemplars/storage/index.js';
import type { ResultRow, RunSummary } from './score/score-stage.js';
import { Journal } from './engine/journal.js';

export type StageName = 'exemplars' | 'describe' | 'score';

export interface PipelineOptions {
  /** The composed run (`composeRun` with these stages): its components, and its stages with their collaborators. */
  readonly run: Pick<ComposedRun, 'components' | 'stages'>;
  /** The resolved config, plugin options parsed (`resolveAllComponents`). */
  readonly config: ExpgenConfig;
  readonly outDir: string;
  /** Stages to run, in pipeline order. */
  readonly stages: readonly StageName[];
  /** Which features (`--features`); null: the config's `features`. */
  readonly features?: string | null;
  /** Folder `@file` feature lists start at. */
  readonly featuresBaseDir: string;
  /** Finished stage 1 output to read instead of `<outDir>/exemplars` (e.g. merged from sequence shards). */
  readonly exemplarsDir?: string;
  /** Describe and score only features whose position in key order is `index` modulo `count`. */
  readonly featureShard?: ShardSpec;
  /** Stage 1 over a slice of the corpus (`expgen exemplars --shard`). */
  readonly sequenceShard?: ShardSpec;
  /** Price stage 2 instead of running it (`--dry-run`): needs finished exemplars, sends and writes nothing. */
  readonly dryRun?: boolean;
  /** SIGTERM and SIGINT as the CLI watches them (`engine/interrupts.ts`); absent: signals keep their default. */
  readonly interrupts?: Interrupts;
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
  const { config, outDir } = options;
  const { components, stages } = options.run;
  const { subject, activation } = components;
  if (!subject || !activation) throw new ExpgenError('the pipeline needs a subject model and an activation source');
  const selection = selectionOf(options);
  const exemplarsDir = options.exemplarsDir ?? outDir;
  checkPipelineCanStart(options);
  let exemplars: ExemplarStageSummary | undefined;

  if (runsStage1(options)) {
    if (!stages.exemplars) throw new ExpgenError('stage 1 was not composed for this run');
    claimStageOutput(outDir, config, 'exemplars');
    const stage1Run = stages.exemplars.run({
      selection,
      outDir,
      configHash: stageConfigHash(config, 'exemplars'),
      ...(options.sequenceShard ? { shard: options.sequenceShard } : {}),
    });
    // Watched (the CLI): a SIGTERM or SIGINT makes stage 1 write a checkpoint and stop, instead of exiting at once.
    exemplars = await (options.interrupts?.checkpointing(
      stage1Run,
      `stage 1 is complete in ${join(outDir, 'exemplars')}`,
    ) ?? stage1Run);
  }
  const stage1 = exemplars ? { exemplars } : {};
  if (!options.stages.includes('describe') && !options.stages.includes('score')) return { exemplarsDir, ...stage1 };

  const library = ExemplarLibrary.open(exemplarsDir);
  try {
    const allFeatures = library.features(selection);
    const features = shardFeatures(allFeatures, options.featureShard);
    const signs = activation.signs;
    if (options.dryRun) {
      if (!stages.describe) throw new ExpgenError('--dry-run prices stage 2, which needs a describer');
      const estimate = await stages.describe.estimate({ library, features, signs, outDir });
      return { exemplarsDir, ...stage1, estimate };
    }
    let described: DescribedFeature[] | undefined;
    if (options.stages.includes('describe')) {
      if (!stages.describe) throw new ExpgenError('stage 2 needs a describer');
      claimStageOutput(outDir, config, 'describe', options.featureShard);
      described = await stages.describe.run({ library, features, signs, outDir });
    }
    if (!options.stages.includes('score'))
      return { exemplarsDir, ...stage1, ...(described ? { described, cost: readRunCost(outDir) } : {}) };
    if (!stages.score) throw new ExpgenError('stage 3 needs a simulator and a scorer');
    described ??= readDescribed(outDir, features, signs);
    claimStageOutput(outDir, config, 'score', options.featureShard);
    const { rows, summary } = await stages.score.run({
      library,
      described,
      // Work items are every feature with every sign, in that order: the keys travel with them, never re-parsed.
      keys: features.flatMap((key) => signs.map(() => key)),
      outDir,
      pairingFeatures: allFeatures,
    });
    return { exemplarsDir, ...stage1, described, rows, summary, cost: readRunCost(outDir) };
  } finally {
    await library.close();
  }
}

/**
 * Every refusal that can be decided before anything is written — a stage's output in this folder made with another
 * config, missing input, contradicting options — so that a refused command leaves the run folder as it was.
 * `runPipeline` calls it first; commands call it before they write the run manifest.
 */
export function checkPipelineCanStart(options: PipelineOptions): void {
  const { outDir, stages } = options;
  const exemplarsDir = options.exemplarsDir ?? outDir;
  if (runsStage1(options)) {
    if (options.dryRun)
      throw new ExpgenError(
        `--dry-run prices the description calls from finished exemplars, and ${join(outDir, 'exemplars')} has none yet: run "expgen exemplars --out ${outDir}" first`,
      );
    if (options.exemplarsDir)
      throw new ExpgenError('--exemplars names finished stage 1 output: it cannot be combined with running stage 1');
    if (options.config.datasets.length === 0) throw new ExpgenError('stage 1 needs at least one dataset');
  } else if (stages.includes('describe') || stages.includes('score')) {
    if (!existsSync(manifestPath(exemplarsDir)))
      throw new ExpgenError(
        `${join(exemplarsDir, 'exemplars')} holds no finished exemplars: run "expgen exemplars --out ${exemplarsDir}" first, or pass --exemplars DIR`,
      );
    checkSelectionHeld(selectionOf(options), readExemplarManifest(exemplarsDir).layers, exemplarsDir);
  }
  if (stages.includes('score') && !stages.includes('describe') && !existsSync(describeJournalPath(outDir)))
    throw new ExpgenError(`${outDir} holds no descriptions: run "expgen describe --out ${outDir}" first`);
  if (!options.dryRun)
    for (const stage of stages)
      checkStageOutput(outDir, options.config, stage, stage === 'exemplars' ? undefined : options.featureShard);
}

function selectionOf(options: PipelineOptions): FeatureSelection {
  const spec = options.features === undefined ? options.config.features : options.features;
  const { activation } = options.run.components;
  if (!activation) throw new ExpgenError('the pipeline needs an activation source');
  return selectFeatures(spec, activation, options.featuresBaseDir);
}

function runsStage1(options: PipelineOptions): boolean {
  return options.stages.includes('exemplars') && !(options.dryRun && existsSync(manifestPath(options.outDir)));
}

function describeJournalPath(outDir: string): string {
  return join(outDir, 'descriptions', 'journal.jsonl');
}

/** The features of one feature shard: those whose position in key order is `index` modulo `count`. */
export function shardFeatures(features: readonly FeatureKey[], shard: ShardSpec | undefined): FeatureKey[] {
  return shard ? features.filter((_, i) => i % shard.count === shard.index) : [...features];
}

/** Stage 2's records for the given features, for a `score` run after a separate `describe`. */
function readDescribed(outDir: string, features: readonly FeatureKey[], signs: readonly Sign[]): DescribedFeature[] {
  const path = describeJournalPath(outDir);
  const entries = Journal.read<JournaledDescription>(path, (e) => e.key, upgradeJournaledDescription);
  const out: DescribedFeature[] = [];
  const missing: string[] = [];
  for (const feature of features) {
    for (const sign of signs) {
      const key = describedKey(formatFeatureKey(feature), sign);
      const entry = entries.get(key);
      if (entry) out.push(withoutCost(entry));
      else missing.push(key);
    }
  }
  if (missing.length)
    throw new ExpgenError(
      `${path} lacks ${missing.length} feature-sign(s) (e.g. ${missing[0]}): finish "expgen describe" with the same options first`,
    );
  return out;
}
