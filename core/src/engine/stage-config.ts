import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import type { ExpgenConfig } from '../config/config-schema.js';
import { hashConfig } from '../config/load-config.js';
import { writeFileAtomic } from '@expgen/plugin-kit';

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
 * layers into passes, and the merge workers only split the features, with identical results), so a run resumed with other values continues the same output.
 */
const OPERATIONAL_KEYS: Record<string, readonly string[]> = {
  exemplars: ['checkpointSeconds', 'memoryBudgetGB', 'workers'],
};

/** The part of a resolved config (plugin options parsed) that a stage's output depends on. */
export function stageConfig(config: ExpgenConfig, stage: StageName): Record<string, unknown> {
  return Object.fromEntries(
    STAGE_SECTIONS[stage].map((key) => {
      const operational = OPERATIONAL_KEYS[key];
      const value = config[key];
      if (!operational || typeof value !== 'object' || value === null) return [key, value];
      return [key, Object.fromEntries(Object.entries(value).filter(([k]) => !operational.includes(k)))];
    }),
  );
}

export function stageConfigHash(config: ExpgenConfig, stage: StageName): string {
  return hashConfig(stageConfig(config, stage));
}

/**
 * Claims a run folder for a stage: the first time, records the stage's config in `<out>/stages/<stage>.json`
 * (outside the stage's data folder, which holds only data); afterwards (a resumed or repeated run) refuses a config that differs in what the stage's
 * output depends on, naming the keys, so one output never mixes two configs.
 */
export function claimStageOutput(outDir: string, config: ExpgenConfig, stage: StageName): void {
  const path = join(outDir, 'stages', `${stage}.json`);
  const current = stageConfig(config, stage);
  if (existsSync(path)) {
    let previous: unknown;
    try {
      previous = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      throw new ExpgenError(
        `${path} is damaged: use another --out folder, or remove it and ${join(outDir, STAGE_FOLDERS[stage])}`,
      );
    }
    const differences = differingKeys(previous, current);
    if (differences.length === 0) return;
    const shown =
      differences.slice(0, 6).join(', ') + (differences.length > 6 ? `, and ${differences.length - 6} more` : '');
    throw new ExpgenError(
      `${outDir} holds ${STAGE_FOLDERS[stage]} made with a different config (${shown} differ): use another --out folder, or restore those keys to resume`,
    );
  }
  writeFileAtomic(path, `${JSON.stringify(current, null, 2)}\n`);
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
