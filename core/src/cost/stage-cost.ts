import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import { writeFileAtomic } from '@expgen/plugin-kit';

/**
 * What a stage spent, in hardware-independent units plus host seconds: the `cost` object of `--json` output and
 * of `cost.json`. Keys are snake_case like every output; every key is present, 0 where a stage has none.
 */
export interface StageCost {
  /** Feature-signs the stage handled (described, failed or skipped; scored, failed or skipped). */
  feature_signs: number;
  /** Requests sent to an explainer (retries included); cache answers are not requests. */
  explainer_requests: number;
  /** Prompt tokens of those requests (the server's count where it reports one, else the subject's tokenizer's). */
  prompt_tokens: number;
  /** Of `prompt_tokens`, those the server reported as served from its prefix cache. */
  cached_prompt_tokens: number;
  completion_tokens: number;
  /** Calls answered by the durable call cache (no request, no tokens). */
  cached_calls: number;
  /** Tokens the simulator processed: descriptions × sequence tokens of every simulate call made. */
  simulator_tokens: number;
  /**
   * What the naive method would have simulated: every candidate (duplicates included) on every valid sequence,
   * plus the chosen description on the test sequences and the null baseline's simulations.
   */
  simulator_tokens_naive: number;
  /** Wall-clock seconds the stage's host spent producing its output (summed over resumed runs, see below). */
  host_seconds: number;
}

/** The keys of a `StageCost`, in the order they are printed. */
export const COST_KEYS = [
  'feature_signs',
  'explainer_requests',
  'prompt_tokens',
  'cached_prompt_tokens',
  'completion_tokens',
  'cached_calls',
  'simulator_tokens',
  'simulator_tokens_naive',
  'host_seconds',
] as const satisfies readonly (keyof StageCost)[];

/** A run's cost: per stage, and the total (sums; `feature_signs` is the run's, counted once). */
export interface RunCost {
  readonly describe: StageCost;
  readonly score: StageCost;
  readonly total: StageCost;
}

export type CostedStage = 'describe' | 'score';

/** Where each stage keeps its cost, beside its journal; the run folder's `cost.json` is assembled from them. */
const STAGE_COST_FILES: Record<CostedStage, string> = {
  describe: join('descriptions', 'cost.json'),
  score: join('score', 'cost.json'),
};

export const RUN_COST_FILE = 'cost.json';

export function zeroCost(): StageCost {
  return Object.fromEntries(COST_KEYS.map((k) => [k, 0])) as unknown as StageCost;
}

/** a + b, key by key (a new object). */
export function addCost(a: StageCost, b: Partial<StageCost>): StageCost {
  const out = { ...a };
  for (const k of COST_KEYS) out[k] += b[k] ?? 0;
  return out;
}

/** Adds `b` into `into`, key by key. */
export function accumulateCost(into: StageCost, b: Partial<StageCost>): void {
  for (const k of COST_KEYS) into[k] += b[k] ?? 0;
}

/** Host seconds kept to the millisecond, so files and printed JSON stay readable. */
export function roundedCost(cost: StageCost): StageCost {
  return { ...cost, host_seconds: Math.round(cost.host_seconds * 1000) / 1000 };
}

/**
 * The run's cost from its stages: every key is summed, except `feature_signs`, which is the number of
 * feature-signs of the run (each stage handles the same ones), not their sum over stages.
 */
export function runCostOf(describe: StageCost, score: StageCost): RunCost {
  const total = addCost(describe, score);
  total.feature_signs = Math.max(describe.feature_signs, score.feature_signs);
  return { describe: roundedCost(describe), score: roundedCost(score), total: roundedCost(total) };
}

/** A stage's cost as its last finished run recorded it; zero when the stage has not finished in `outDir`. */
export function readStageCost(outDir: string, stage: CostedStage): StageCost {
  const path = join(outDir, STAGE_COST_FILES[stage]);
  if (!existsSync(path)) return zeroCost();
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new ExpgenError(`${path} is not valid JSON: remove it and run the ${stage} stage again to recount`);
  }
  return checkedCost(value, path);
}

/** The run folder's cost: its stages' files. */
export function readRunCost(outDir: string): RunCost {
  return runCostOf(readStageCost(outDir, 'describe'), readStageCost(outDir, 'score'));
}

/**
 * Records a finished stage's cost beside its output and rewrites the run folder's `cost.json` from every stage's
 * file, so the run total always matches its parts. Returns the run's cost.
 */
export function writeStageCost(outDir: string, stage: CostedStage, cost: StageCost): RunCost {
  writeFileAtomic(join(outDir, STAGE_COST_FILES[stage]), `${JSON.stringify(roundedCost(cost), null, 2)}\n`);
  const run = readRunCost(outDir);
  writeFileAtomic(join(outDir, RUN_COST_FILE), `${JSON.stringify(run, null, 2)}\n`);
  return run;
}

/** A cost object read from a file or a journal line: every key a non-negative number (missing keys are 0). */
export function checkedCost(value: unknown, where: string): StageCost {
  if (typeof value !== 'object' || value === null)
    throw new ExpgenError(`${where}: expected a cost object with the keys ${COST_KEYS.join(', ')}`);
  const out = zeroCost();
  for (const k of COST_KEYS) {
    const v = (value as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw new ExpgenError(`${where}: ${k} is ${JSON.stringify(v)}, expected a non-negative number`);
    out[k] = v;
  }
  return out;
}

/**
 * Splits wall-clock time among work items as they finish: each item gets the time since the previous one
 * finished (or since the clock started), so the items' seconds add up to the time the loop ran, however many ran
 * at once. Persisted per item in the stage's journal, they make a resumed run's total neither lose a finished
 * item's time nor count it twice.
 */
export class WallClockShares {
  private last = performance.now();

  /** Seconds since the previous call (or construction). */
  take(): number {
    const now = performance.now();
    const seconds = (now - this.last) / 1000;
    this.last = now;
    return seconds;
  }
}
