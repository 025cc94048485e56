import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import type { ExpgenConfig } from '../config/config-schema.js';
import { hashConfig } from '../config/load-config.js';
import { writeFileAtomic } from '@expgen/plugin-kit';
import type { ShardSpec } from '../exemplars/corpus/index.js';

/** The config sections each stage's output depends on: changing anything else leaves its output valid. */
export const STAGE_SECTIONS = {
  exemplars: ['subject', 'activation', 'datasets', 'exemplars', 'features'],
  describe: ['subject', 'activation', 'datasets', 'exemplars', 'features', 'describer', 'describe'],
  score: [
    'subject',
    'activation',
    'datasets',
    'exemplars',
    'features',
    'describer',
    'describe',
    'simulator',
    'scorer',
    'scorers',
    'score',
  ],
} as const satisfies Record<string, readonly (keyof ExpgenConfig)[]>;

/** Folder of each stage's output inside a run folder, for messages. */
export const STAGE_FOLDERS: Record<StageName, string> = {
  exemplars: 'exemplars',
  describe: 'descriptions',
  score: 'score',
};

export type StageName = keyof typeof STAGE_SECTIONS;

/**
 * Keys that change how a stage runs but not what it writes (checkpoint cadence; the memory budget only splits the
 * layers into passes, and the merge workers only split the features, with identical results; concurrency only
 * changes what runs at once), so a run resumed with other values continues the same output.
 */
const OPERATIONAL_KEYS: Record<string, readonly string[]> = {
  exemplars: ['checkpointSeconds', 'memoryBudgetGB', 'workers'],
  describe: ['concurrency'],
  score: ['concurrency'],
};

/**
 * The key under which a feature shard (`--shard i/N` of describe, score and run) is recorded in a stage's config:
 * a folder holds the output of one slice of the features, so resuming it with another slice is refused like any
 * other change. Unsharded runs record no key, so their records read as before sharding was recorded.
 */
export const SHARD_KEY = 'shard';

/**
 * The part of a resolved config (plugin options parsed) that a stage's output depends on, and the feature shard
 * the output holds (`i/N`; absent when unsharded).
 */
export function stageConfig(config: ExpgenConfig, stage: StageName, featureShard?: ShardSpec): Record<string, unknown> {
  // No reported scorers besides `scorer` is what a folder from before `scorers` existed holds: recorded as absent.
  const keys = STAGE_SECTIONS[stage].filter((key) => !(key === 'scorers' && config.scorers.length === 0));
  const sections = keys.map((key) => {
    const operational = OPERATIONAL_KEYS[key];
    const value = config[key];
    if (!operational || typeof value !== 'object' || value === null) return [key, value] as const;
    return [key, Object.fromEntries(Object.entries(value).filter(([k]) => !operational.includes(k)))] as const;
  });
  const sharded = featureShard && featureShard.count > 1 && stage !== 'exemplars';
  return Object.fromEntries([
    ...sections,
    ...(sharded ? [[SHARD_KEY, `${featureShard.index}/${featureShard.count}`] as const] : []),
  ]);
}

/** A recorded stage config without its feature shard: what the shards of one run have in common. */
export function withoutShard(recorded: unknown): unknown {
  if (typeof recorded !== 'object' || recorded === null || Array.isArray(recorded)) return recorded;
  return Object.fromEntries(Object.entries(recorded).filter(([key]) => key !== SHARD_KEY));
}

export function stageConfigHash(config: ExpgenConfig, stage: StageName): string {
  return hashConfig(stageConfig(config, stage));
}

/**
 * Claims a run folder for a stage: the first time, records the stage's config in `<out>/stages/<stage>.json`
 * (outside the stage's data folder, which holds only data); afterwards (a resumed or repeated run) refuses a config
 * that differs in what the stage's output depends on, or another feature shard, naming the keys, so one output
 * never mixes two configs or two slices of the features.
 */
export function claimStageOutput(
  outDir: string,
  config: ExpgenConfig,
  stage: StageName,
  featureShard?: ShardSpec,
): void {
  if (checkStageOutput(outDir, config, stage, featureShard) === 'recorded') return;
  writeFileAtomic(
    stageConfigPath(outDir, stage),
    `${JSON.stringify(stageConfig(config, stage, featureShard), null, 2)}\n`,
  );
}

/**
 * The refusal of `claimStageOutput` without its write: throws when the folder holds the stage's output made with
 * a different config or another feature shard, else says whether this config is already recorded. Commands call it
 * for every stage they will run before they write anything (the run manifest included), so a refused command changes
 * no file.
 */
export function checkStageOutput(
  outDir: string,
  config: ExpgenConfig,
  stage: StageName,
  featureShard?: ShardSpec,
): 'recorded' | 'new' {
  const path = stageConfigPath(outDir, stage);
  if (!existsSync(path)) return 'new';
  // A recorded config over no output (a first attempt refused its empty dataset) protects nothing: a corrected
  // config may take its place.
  const data = join(outDir, STAGE_FOLDERS[stage]);
  if (!existsSync(data) || readdirSync(data).length === 0) return 'new';
  let previous: unknown;
  try {
    previous = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new ExpgenError(
      `${path} is damaged: use another --out folder, or remove it and ${join(outDir, STAGE_FOLDERS[stage])}`,
    );
  }
  const current = stageConfig(config, stage, featureShard);
  const differences = differingKeys(previous, current);
  if (differences.length === 0) return 'recorded';
  if (differences.includes(SHARD_KEY)) {
    const shardOf = (recorded: unknown) => (recorded as Record<string, unknown> | null)?.[SHARD_KEY] ?? null;
    const was = shardOf(previous);
    const now = shardOf(current);
    throw new ExpgenError(
      `${outDir} holds ${STAGE_FOLDERS[stage]} made with ${was === null ? 'no --shard' : `--shard ${was}`}, not ${now === null ? 'without one' : `--shard ${now}`} (shard differs): give each shard its own --out folder, or resume it ${was === null ? 'without --shard' : `with --shard ${was}`}`,
    );
  }
  const shown =
    differences.slice(0, 6).join(', ') + (differences.length > 6 ? `, and ${differences.length - 6} more` : '');
  throw new ExpgenError(
    `${outDir} holds ${STAGE_FOLDERS[stage]} made with a different config (${shown} differ): use another --out folder, or restore those keys to resume`,
  );
}

function stageConfigPath(outDir: string, stage: StageName): string {
  return join(outDir, 'stages', `${stage}.json`);
}

/** Key paths whose values differ between two JSON-like values, in document order. */
export function differingKeys(a: unknown, b: unknown, path = ''): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => differingKeys(a[k], b[k], path ? `${path}.${k}` : k));
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    return a.flatMap((v, i) => differingKeys(v, b[i], `${path}[${i}]`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path || '(whole config)'];
}
