import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { checkShardsFinished, resolveShard } from './shard.js';

const refusal = (pattern: RegExp) => (error: unknown) => isExpgenError(error) && pattern.test((error as Error).message);

describe('--shard', () => {
  it('i/N is taken as given, whatever the environment says', () => {
    assert.deepEqual(resolveShard('2/8', { SLURM_ARRAY_TASK_ID: '5' }), { shard: { index: 2, count: 8 } });
  });

  it('auto/N takes the index from a Slurm array task and the count from the command line', () => {
    // A resubmitted single task (sbatch --array=3) is an array of one: the count must not come from Slurm.
    const env = { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '1', SLURM_ARRAY_TASK_MAX: '3' };
    assert.deepEqual(resolveShard('auto/8', env), { shard: { index: 3, count: 8 }, indexFrom: 'SLURM_ARRAY_TASK_ID' });
  });

  it('auto/N takes the index from a Kubernetes Indexed Job', () => {
    assert.deepEqual(resolveShard(' auto / 4 ', { JOB_COMPLETION_INDEX: '0' }), {
      shard: { index: 0, count: 4 },
      indexFrom: 'JOB_COMPLETION_INDEX',
    });
  });

  it('auto/N refuses when no scheduler variable is set, naming both and the way out', () => {
    assert.throws(
      () => resolveShard('auto/4', { SLURM_ARRAY_TASK_ID: ' ', HOME: '/root' }),
      refusal(/^--shard auto\/4: neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set.*--shard 0\/4\)$/),
    );
  });

  it('auto/N refuses an index outside the N shards, and malformed values', () => {
    assert.throws(
      () => resolveShard('auto/4', { SLURM_ARRAY_TASK_ID: '4' }),
      refusal(/SLURM_ARRAY_TASK_ID is 4, but there are 4 shards \(indices 0 to 3\)/),
    );
    assert.throws(() => resolveShard('auto/4', { JOB_COMPLETION_INDEX: 'x' }), refusal(/JOB_COMPLETION_INDEX is "x"/));
    for (const bad of ['auto/0', 'auto/-1', 'auto/', 'auto/1.5', 'auto'])
      assert.throws(() => resolveShard(bad, { SLURM_ARRAY_TASK_ID: '0' }), refusal(/^--shard/), bad);
  });
});

describe('merging unfinished shards', () => {
  const shardFolder = (root: string, name: string, shard: unknown, finished: boolean) => {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'expgen-manifest.json'), JSON.stringify({ command: 'run', ...(shard ? { shard } : {}) }));
    if (finished) writeFileSync(join(dir, 'results.jsonl'), '');
    return dir;
  };

  it('passes when every folder holds the finished file', () => {
    const root = mkdtempSync(join(tmpdir(), 'expgen-shards-'));
    const dirs = [0, 1].map((i) => shardFolder(root, `s${i}`, { index: i, count: 2 }, true));
    checkShardsFinished(dirs, 'results.jsonl', 'expgen run');
  });

  it('names the unfinished shard and how to resume it', () => {
    const root = mkdtempSync(join(tmpdir(), 'expgen-shards-'));
    const dirs = [
      shardFolder(root, 's0', { index: 0, count: 3 }, true),
      shardFolder(root, 's2', { index: 2, count: 3 }, false),
    ];
    assert.throws(
      () => checkShardsFinished(dirs, 'results.jsonl', 'expgen run'),
      refusal(
        /^merge: shard 2\/3 \(.*s2\) is not finished \(no results\.jsonl yet\).*sbatch --array=2.*"expgen run --shard 2\/3"/,
      ),
    );
  });

  it('names a folder that holds no expgen output at all', () => {
    const root = mkdtempSync(join(tmpdir(), 'expgen-shards-'));
    assert.throws(
      () => checkShardsFinished([join(root, 'typo')], 'results.jsonl', 'expgen run'),
      refusal(/^merge: .*typo holds no expgen output/),
    );
  });
});
