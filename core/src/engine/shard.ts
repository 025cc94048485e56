import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import { parseShard, type ShardSpec } from '../exemplars/corpus/index.js';
import { MANIFEST_FILE } from './run-manifest.js';

/**
 * The environment variables a scheduler sets to a task's index, in the order they are consulted: a Slurm job
 * array task (`sbatch --array=0-7`) and a Kubernetes Indexed Job's pod (`completionMode: Indexed`).
 */
export const SCHEDULER_INDEX_VARIABLES = ['SLURM_ARRAY_TASK_ID', 'JOB_COMPLETION_INDEX'] as const;

export interface ResolvedShard {
  readonly shard: ShardSpec;
  /** The variable `--shard auto/N` took the index from; absent for an explicit `i/N`. */
  readonly indexFrom?: (typeof SCHEDULER_INDEX_VARIABLES)[number];
}

/**
 * `--shard i/N`, or `--shard auto/N`: the index from the scheduler's environment and the count from the command
 * line. The count never comes from the scheduler, because a resubmitted single task (`sbatch --array=3`) is an
 * array of one (`SLURM_ARRAY_TASK_COUNT=1`) and must still know it is one of N.
 */
export function resolveShard(text: string, env: NodeJS.ProcessEnv = process.env): ResolvedShard {
  const auto = /^\s*auto\s*\/\s*(\S+)\s*$/.exec(text);
  if (!auto) return { shard: parseShard(text) };
  const count = Number(auto[1]);
  if (!/^\d+$/.test(auto[1]!) || !Number.isSafeInteger(count) || count < 1)
    throw new ExpgenError(`--shard: expected auto/N with an integer N >= 1 (e.g. auto/8), got ${JSON.stringify(text)}`);
  const indexFrom = SCHEDULER_INDEX_VARIABLES.find((name) => (env[name] ?? '').trim() !== '');
  if (!indexFrom)
    throw new ExpgenError(
      `--shard auto/${count}: neither ${SCHEDULER_INDEX_VARIABLES.join(' nor ')} is set, so there is no task index to take: run it as a Slurm array task or a Kubernetes Indexed Job, or give the index (--shard 0/${count})`,
    );
  const value = env[indexFrom]!.trim();
  const index = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(index))
    throw new ExpgenError(`--shard auto/${count}: ${indexFrom} is ${JSON.stringify(value)}, not a task index`);
  if (index >= count)
    throw new ExpgenError(
      `--shard auto/${count}: ${indexFrom} is ${index}, but there are ${count} shards (indices 0 to ${count - 1}): submit the array as 0-${count - 1}, or give the count the array was made for`,
    );
  return { shard: { index, count }, indexFrom };
}

/** `i/N`, the form `--shard` takes and messages use. */
export function formatShard(shard: ShardSpec): string {
  return `${shard.index}/${shard.count}`;
}

/**
 * Refuses to merge while a shard is unfinished, naming it: each folder must hold `finishedFile` (written last by
 * the shard's run). The shard is read from the folder's run manifest, written when the shard's run started, so a
 * merge started too early (a job submitted without `--dependency=afterok`, a task still running or killed) says
 * which shard to wait for or resubmit.
 */
export function checkShardsFinished(dirs: readonly string[], finishedFile: string, command: string): void {
  for (const dir of dirs) {
    if (existsSync(join(dir, finishedFile))) continue;
    const manifestPath = join(dir, MANIFEST_FILE);
    let shard: ShardSpec | undefined;
    try {
      shard = (JSON.parse(readFileSync(manifestPath, 'utf8')) as { shard?: ShardSpec }).shard;
    } catch {
      shard = undefined;
    }
    if (!existsSync(manifestPath))
      throw new ExpgenError(
        `merge: ${dir} holds no expgen output (no ${MANIFEST_FILE}): give the folders the shards wrote`,
      );
    const which = shard ? `shard ${formatShard(shard)} (${dir})` : dir;
    const rerun = shard
      ? `sbatch --array=${shard.index}, or "${command} --shard ${formatShard(shard)}" with the same options`
      : `"${command}" with the same options`;
    throw new ExpgenError(
      `merge: ${which} is not finished (no ${finishedFile} yet): wait for its task, or run it again (${rerun}: it resumes), then merge`,
    );
  }
}
