import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertOneLineError, repoRoot, runCli, tempDir, testCacheDir, type CliResult } from './helpers/run-cli.js';

/** No scheduler index from the environment the tests run in (a test run inside a Slurm job has one). */
const noScheduler = { SLURM_ARRAY_TASK_ID: '', JOB_COMPLETION_INDEX: '' };

/**
 * Feature shards as a scheduler runs them: `--shard auto/N` under Slurm's and Kubernetes' conventions, shards that
 * cannot be mixed up, merges that refuse unfinished shards, and SIGTERM (preemption, eviction) mid-run.
 */
describe('shards and signals, as a scheduler runs expgen', () => {
  const dir = tempDir('expgen-shards-cli-');
  const small = ['--set', 'exemplars.sequences=300', '--set', 'activation.options.layers=[1]'];
  const whole = join(dir, 'whole');

  before(async () => {
    const result = await runCli(['run', '--out', whole, ...small], { env: noScheduler });
    assert.equal(result.code, 0, result.stderr);
  });

  it('--shard auto/N takes the index from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX; the merge is byte-identical', async () => {
    const shards = [join(dir, 'auto-0'), join(dir, 'auto-1')];
    const slurm = await runCli(['run', '--out', shards[1]!, ...small, '--exemplars', whole, '--shard', 'auto/2'], {
      env: { ...noScheduler, SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '1' },
    });
    assert.equal(slurm.code, 0, slurm.stderr);
    assert.match(slurm.stderr, /--shard auto\/2: shard 1\/2, the index from SLURM_ARRAY_TASK_ID/);
    const kubernetes = await runCli(['run', '--out', shards[0]!, ...small, '--exemplars', whole, '--shard', 'auto/2'], {
      env: { ...noScheduler, JOB_COMPLETION_INDEX: '0' },
    });
    assert.equal(kubernetes.code, 0, kubernetes.stderr);
    assert.match(kubernetes.stderr, /--shard auto\/2: shard 0\/2, the index from JOB_COMPLETION_INDEX/);
    for (const [i, shard] of shards.entries())
      assert.deepEqual(JSON.parse(readFileSync(join(shard, 'expgen-manifest.json'), 'utf8')).shard, {
        index: i,
        count: 2,
      });

    const merged = join(dir, 'auto-merged');
    const merge = await runCli(['merge', ...shards, '--out', merged]);
    assert.equal(merge.code, 0, merge.stderr);
    for (const file of [
      'results.jsonl',
      'results.arrow',
      'descriptions/candidates.jsonl',
      'descriptions/candidates.arrow',
      'score/null-scores.jsonl',
      'stages/score.json',
      // The demo's subject carries a planted truth: the merge compares all the shards' descriptions with it.
      'planted-comparison.json',
    ])
      assert.ok(readFileSync(join(merged, file)).equals(readFileSync(join(whole, file))), `${file} is byte-identical`);
  });

  it('--shard auto/N without a scheduler variable is refused in one line', async () => {
    const line = assertOneLineError(
      await runCli(['run', '--out', join(dir, 'no-index'), ...small, '--exemplars', whole, '--shard', 'auto/2'], {
        env: noScheduler,
      }),
    );
    assert.match(line, /--shard auto\/2: neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set/);
    assert.ok(!existsSync(join(dir, 'no-index')), 'nothing written');
  });

  it('a merge started before every shard is finished names the unfinished shard', async () => {
    // Shard 1/2 has described its features but not scored them yet, as when its task is still running.
    const unfinished = join(dir, 'unfinished');
    const described = await runCli(['describe', '--out', unfinished, ...small, '--exemplars', whole, '--shard', '1/2']);
    assert.equal(described.code, 0, described.stderr);
    const line = assertOneLineError(
      await runCli(['merge', join(dir, 'auto-0'), unfinished, '--out', join(dir, 'early')]),
    );
    assert.match(line, /^expgen: merge: shard 1\/2 \(.*unfinished\) is not finished \(no results\.jsonl yet\)/);
    assert.ok(!existsSync(join(dir, 'early')), 'nothing written');
  });

  it('a folder resumed with another shard is refused, naming the key', async () => {
    const out = join(dir, 'unfinished');
    const before = readFileSync(join(out, 'descriptions', 'journal.jsonl'));
    const line = assertOneLineError(
      await runCli(['describe', '--out', out, ...small, '--exemplars', whole, '--shard', '0/2']),
    );
    assert.match(line, /holds descriptions made with --shard 1\/2, not --shard 0\/2 \(shard differs\)/);
    assert.ok(
      readFileSync(join(out, 'descriptions', 'journal.jsonl')).equals(before),
      'the descriptions are untouched',
    );
  });

  it('SIGTERM while scoring exits at once with one line, loses nothing, and the same command resumes', async () => {
    const out = join(dir, 'terminated');
    const args = ['run', '--out', out, ...small];
    const journal = join(out, 'score', 'journal.jsonl');
    const stopped = await signalWhen(args, 'SIGTERM', () =>
      existsSync(journal) ? readFileSync(journal, 'utf8').split('\n').length > 40 : false,
    );
    // Ended by SIGTERM itself, as a shell sees it (status 143): every finished item is journaled already.
    assert.equal(stopped.code, -1, stopped.stderr);
    assert.equal(
      stopped.stderr.trim().split('\n').at(-1),
      'expgen: interrupted by SIGTERM; run the same command again to resume where it stopped',
    );
    assert.ok(readFileSync(journal, 'utf8').endsWith('\n'), 'no half-written journal line');
    assert.ok(!existsSync(join(out, 'results.jsonl')), 'nothing looks complete');
    const resumed = await runCli(args);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(readFileSync(join(out, 'results.jsonl'), 'utf8'), readFileSync(join(whole, 'results.jsonl'), 'utf8'));
  });

  it('SIGTERM during stage 1 writes a checkpoint and stops; the same command resumes to identical files', async () => {
    const out = join(dir, 'terminated-exemplars');
    const args = ['exemplars', '--out', out, ...small, '--set', 'exemplars.checkpointSeconds=0.05'];
    const checkpoint = join(out, 'exemplars', 'checkpoint', 'checkpoint.json');
    const stopped = await signalWhen(args, 'SIGTERM', () => existsSync(checkpoint));
    assert.equal(stopped.code, 143, stopped.stderr);
    assert.match(stopped.stderr, /SIGTERM received: saving a checkpoint, then stopping/);
    assert.match(
      stopped.stderr.trim().split('\n').at(-1)!,
      /^expgen: interrupted by SIGTERM: stage 1 checkpoint written to .*checkpoint; run the same command again to resume where it stopped$/,
    );
    assert.ok(existsSync(checkpoint));
    assert.ok(!existsSync(join(out, 'exemplars', 'manifest.json')), 'nothing looks complete');
    const resumed = await runCli(args);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming from the checkpoint/);
    for (const split of ['train', 'valid', 'test']) {
      const file = join('exemplars', 'mlp', 'layer-01', `${split}.arrow`);
      assert.ok(readFileSync(join(out, file)).equals(readFileSync(join(whole, file))), `${file} is byte-identical`);
    }
  });
});

/** Starts `expgen args` and sends `signal` once `ready()` holds; resolves with how it ended. */
function signalWhen(args: string[], signal: NodeJS.Signals, ready: () => boolean): Promise<CliResult> {
  const child = spawn(process.execPath, [join(repoRoot, 'core/bin/run.js'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...noScheduler, XDG_CACHE_HOME: testCacheDir(), NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<CliResult>((resolve) =>
    child.on('close', (code, killedBy) => resolve({ code: code ?? (killedBy ? -1 : null), stdout, stderr })),
  );
  return (async () => {
    for (let i = 0; i < 6000 && child.exitCode === null; i++) {
      if (ready()) {
        child.kill(signal);
        break;
      }
      await sleep(10);
    }
    const result = await closed;
    assert.notEqual(result.code, 0, `the run ended before ${signal} could be sent: make it longer`);
    return result;
  })();
}
