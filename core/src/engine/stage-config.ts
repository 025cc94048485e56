import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExpgenError } from '../contract/errors.js';
import type { ExpgenConfig } from '../config/config-schema.js';
import { hashConfig } from '../config/load-config.js';
import { MANIFEST_FILE } from './run-manifest.js';

/** The config sections each stage's output depends on: changing anything else leaves its output valid. */
export const STAGE_SECTIONS = {
  exemplars: ['subject', 'activation', 'datasets', 'exemplars', 'features'],
} as const satisfies Record<string, readonly (keyof ExpgenConfig)[]>;

export type StageName = keyof typeof STAGE_SECTIONS;

/**
 * Keys that change how a stage runs but not what it writes (checkpoint cadence; the memory budget only splits the
 * layers into passes with identical results), so a run resumed with other values continues the same output.
 */
const OPERATIONAL_KEYS: Record<StageName, Record<string, readonly string[]>> = {
  exemplars: { exemplars: ['checkpointSeconds', 'memoryBudgetGB'] },
};

/** The part of a resolved config (plugin options parsed) that a stage's output depends on. */
export function stageConfig(config: ExpgenConfig, stage: StageName): Record<string, unknown> {
  return Object.fromEntries(
    STAGE_SECTIONS[stage].map((key) => {
      const operational = OPERATIONAL_KEYS[stage][key];
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
 * Refuses to reuse an output folder made with another config for this stage, naming the keys that differ, so a
 * resumed run never mixes two configs in one output.
 */
export function checkOutputConfig(outDir: string, config: ExpgenConfig, stage: StageName): void {
  const path = join(outDir, MANIFEST_FILE);
  if (!existsSync(path)) return;
  let previous: ExpgenConfig;
  try {
    previous = (JSON.parse(readFileSync(path, 'utf8')) as { config: ExpgenConfig }).config;
  } catch {
    throw new ExpgenError(`${path} is not a readable expgen manifest: use another --out folder or remove it`);
  }
  const differences = differingKeys(stageConfig(previous, stage), stageConfig(config, stage));
  if (differences.length === 0) return;
  const shown = differences.slice(0, 6).join(', ') + (differences.length > 6 ? `, and ${differences.length - 6} more` : '');
  throw new ExpgenError(`${outDir} was made with a different config (${shown} differ): use another --out folder, or restore those keys to resume`);
}

/** Key paths whose values differ between two JSON-like values, in document order. */
export function differingKeys(a: unknown, b: unknown, path = ''): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => differingKeys(a[k], b[k], path ? `${path}.${k}` : k));
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    return a.flatMap((v, i) => differingKeys(v, b[i], `${path}[${i}]`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path || '(whole config)'];
}
