import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertOneLineError, repoRoot, runCli, tempDir, testCacheDir } from '../helpers/run-cli.js';

/**
 * The repository's sbatch files (examples/slurm) on a real single-node Slurm cluster started by
 * test/slurm/start.sh: the stage 1 array with one task killed mid-run and resubmitted, its merge after
 * --dependency=afterok, the stages 2-3 array over feature shards and its merge. The merged outputs must be
 * byte-identical to one unsharded process's. Options given to sbatch on the command line override the files'
 * #SBATCH lines for this machine (no GPU, one CPU per task).
 *
 * Needs root and Debian's slurmctld, slurmd, munge and slurm-client (.ci/run installs them); skipped with the
 * reason otherwise, and failed instead when EXPGEN_REQUIRE_SLURM=1 (CI, once it installed Slurm).
 */
const recipes = join(repoRoot, 'examples', 'slurm');
const clusterDir = tempDir('expgen-slurm-');
const unavailable = startCluster(clusterDir);
const required = process.env.EXPGEN_REQUIRE_SLURM === '1';

describe('the Slurm recipes on a real single-node cluster', { skip: !required && unavailable }, () => {
  if (unavailable) {
    it('Slurm is required here (EXPGEN_REQUIRE_SLURM=1) but cannot be used', () => assert.fail(unavailable));
    return;
  }
  const slurmConf = join(clusterDir, 'slurm.conf');
  const work = tempDir('expgen-slurm-run-');
  const runs = join(work, 'runs');
  const logs = join(work, 'logs');
  const config = join(work, 'slurm-demo.yaml');
  const env = {
    SLURM_CONF: slurmConf,
    XDG_CACHE_HOME: testCacheDir(),
    EXPGEN_CONFIG: config,
    EXPGEN_OUT: runs,
    EXPGEN_SHARDS: '3',
    EXPGEN_FEATURE_SHARDS: '2',
  };
  /** This machine: no GPU, two cores shared by every task, little memory; logs in the test's folder. */
  const here = ['--gres=none', '--cpus-per-task=1', '--mem=1G', '--time=20'];
  const array = (range: string) => [...here, `--array=${range}`, `--output=${logs}/%x-%a.log`];
  const single = [...here, `--output=${logs}/%x.log`];
  const wholeExemplars = join(work, 'whole-exemplars');
  const wholeRun = join(work, 'whole-run');
  let stage1Merge = '';

  before(async () => {
    mkdirSync(logs, { recursive: true });
    // The demo config at small settings, merged over the embedded default like any user's file.
    writeFileSync(
      config,
      [
        'activation: { options: { layers: [1] } }',
        // Frequent checkpoints, so the task killed below has one to resume from.
        'exemplars: { sequences: 900, batchSize: 8, checkpointSeconds: 0.2 }',
        '',
      ].join('\n'),
    );
    // One unsharded process each for stage 1 and for stages 2-3: what the merged shards must equal.
    const stage1 = await runCli(['exemplars', '--config', config, '--out', wholeExemplars]);
    assert.equal(stage1.code, 0, stage1.stderr);
    const stages23 = await runCli(['run', '--config', config, '--exemplars', wholeExemplars, '--out', wholeRun]);
    assert.equal(stages23.code, 0, stages23.stderr);
  });

  after(() => stopCluster(clusterDir));

  it('stage 1: an array task killed mid-run and resubmitted alone resumes; the merge equals one process', async () => {
    const job = sbatch([...array('0-2'), 'exemplars.sbatch']);
    const merge = sbatch([...single, `--dependency=afterok:${job}`, 'exemplars-merge.sbatch']);

    // Kill task 1 once it has written a checkpoint, as a node failure or an out-of-memory kill would.
    const checkpoint = join(runs, 'exemplars-shard-1', 'exemplars', 'checkpoint', 'checkpoint.json');
    const finished = join(runs, 'exemplars-shard-1', 'exemplars', 'manifest.json');
    for (let i = 0; i < 2400 && !existsSync(checkpoint) && !existsSync(finished); i++) await sleep(25);
    assert.ok(existsSync(checkpoint), `task 1 wrote no checkpoint before ending:\n${jobLogs(logs)}`);
    slurm('scancel', ['--signal=KILL', `${job}_1`]);
    await waitUntilEnded([job]);
    assert.ok(!existsSync(finished), 'task 1 was killed before it finished');
    const states = taskStates(job);
    assert.deepEqual({ ...states, 1: 'killed' }, { 0: 'COMPLETED', 1: 'killed', 2: 'COMPLETED' }, jobLogs(logs));
    assert.match(states[1]!, /^(CANCELLED|FAILED)$/, 'scancel --signal=KILL ends the task');
    // slurmctld re-evaluates dependencies on its next scheduling pass.
    let mergeState = '';
    for (let i = 0; i < 240 && !mergeState.includes('DependencyNeverSatisfied'); i++) {
      if (i > 0) await sleep(250);
      mergeState = slurm('squeue', ['-h', '-j', merge, '-o', '%T %r']);
    }
    assert.equal(mergeState, 'PENDING DependencyNeverSatisfied', 'the merge waits for a task that failed');

    // A merge started by hand now names the unfinished shard.
    const early = await runCli([
      'exemplars',
      'merge',
      ...shardFolders(runs, 'exemplars'),
      '--out',
      join(work, 'early'),
    ]);
    assert.match(assertOneLineError(early), /merge: shard 1\/3 \(.*exemplars-shard-1\) is not finished/);

    // As the README says: resubmit the task alone, and the merge after it.
    slurm('scancel', [merge]);
    const again = sbatch([...array('1'), 'exemplars.sbatch']);
    stage1Merge = sbatch([...single, `--dependency=afterok:${again}`, 'exemplars-merge.sbatch']);
    await waitUntilEnded([again, stage1Merge]);
    assert.deepEqual(taskStates(again), { 1: 'COMPLETED' }, jobLogs(logs));
    assert.deepEqual(taskStates(stage1Merge), { '': 'COMPLETED' }, jobLogs(logs));
    const resumedLog = readFileSync(join(logs, 'expgen-exemplars-1.log'), 'utf8');
    assert.match(resumedLog, /--shard auto\/3: shard 1\/3, the index from SLURM_ARRAY_TASK_ID/);
    assert.match(resumedLog, /resuming from the checkpoint/);
    assertSameFiles(join(wholeExemplars, 'exemplars'), join(runs, 'exemplars-all', 'exemplars'));
  });

  it('stages 2-3: the feature-shard array and its merge after afterok equal one process', async () => {
    assert.ok(stage1Merge, 'needs the stage 1 merge of the previous test');
    const job = sbatch([...array('0-1'), `--dependency=afterok:${stage1Merge}`, 'features.sbatch']);
    const merge = sbatch([...single, `--dependency=afterok:${job}`, 'features-merge.sbatch']);
    await waitUntilEnded([job, merge]);
    assert.deepEqual(taskStates(job), { 0: 'COMPLETED', 1: 'COMPLETED' }, jobLogs(logs));
    assert.deepEqual(taskStates(merge), { '': 'COMPLETED' }, jobLogs(logs));
    const merged = join(runs, 'all');
    for (const file of [
      'results.jsonl',
      'results.arrow',
      'descriptions/candidates.jsonl',
      'descriptions/candidates.arrow',
      'score/null-scores.jsonl',
    ])
      assert.ok(
        readFileSync(join(merged, file)).equals(readFileSync(join(wholeRun, file))),
        `${file} is byte-identical`,
      );
    assertSameFiles(join(wholeRun, 'features'), join(merged, 'features'));
    assert.ok(existsSync(join(merged, 'report.html')), 'the merge job wrote the report');
  });

  /** Submits a file of examples/slurm from the repository root with the test's environment; returns the job id. */
  function sbatch(args: string[]): string {
    const file = args.pop()!;
    return slurm('sbatch', ['--parsable', ...args, join(recipes, file)]).split(';')[0]!;
  }

  function slurm(command: string, args: string[]): string {
    const result = spawnSync(command, args, { cwd: repoRoot, env: { ...process.env, ...env }, encoding: 'utf8' });
    assert.equal(result.status, 0, `${command} ${args.join(' ')}: ${result.stderr}`);
    return result.stdout.trim();
  }

  /** Waits until none of the jobs is pending or running, or one waits on a dependency that can never be met. */
  async function waitUntilEnded(jobs: string[]): Promise<void> {
    for (let i = 0; i < 2400; i++) {
      const queued = slurm('squeue', ['-h', '-j', jobs.join(','), '-o', '%T %r']);
      if (queued === '' || queued.split('\n').every((l) => l.includes('DependencyNeverSatisfied'))) return;
      await sleep(250);
    }
    assert.fail(`jobs ${jobs.join(', ')} did not end within 10 minutes:\n${jobLogs(logs)}`);
  }

  /** The state of each task of a job (keyed by array index; '' for a job that is not an array). */
  function taskStates(job: string): Record<string, string> {
    const states: Record<string, string> = {};
    for (const line of slurm('scontrol', ['show', 'job', '-o', job]).split('\n')) {
      const state = /JobState=(\S+)/.exec(line)?.[1];
      if (state) states[/ArrayTaskId=(\d+)/.exec(line)?.[1] ?? ''] = state;
    }
    return states;
  }
});

/** Starts the cluster; returns why Slurm cannot be used here, or false when it is up. */
function startCluster(dir: string): string | false {
  if (process.platform !== 'linux') return 'Slurm tests need Linux';
  if (process.getuid?.() !== 0) return 'Slurm tests need root (slurmd and munged run as root here)';
  const missing = ['slurmctld', 'slurmd', 'munged', 'mungekey', 'sbatch', 'squeue', 'scontrol', 'scancel'].filter(
    (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0,
  );
  if (missing.length)
    return `Slurm is not installed (${missing.join(', ')} not found): apt-get install slurmctld slurmd munge slurm-client`;
  const started = spawnSync(join(repoRoot, 'test', 'slurm', 'start.sh'), [dir], { encoding: 'utf8' });
  if (started.status !== 0) {
    stopCluster(dir);
    return `Slurm did not start: ${started.stderr.trim().split('\n').at(-1)} (logs in ${dir}/log)`;
  }
  // Daemons left behind by a crashed test would outlive it: stop them whatever happens.
  process.on('exit', () => stopCluster(dir));
  return false;
}

function stopCluster(dir: string): void {
  spawnSync(join(repoRoot, 'test', 'slurm', 'stop.sh'), [dir]);
}

function shardFolders(runs: string, prefix: string): string[] {
  return readdirSync(runs)
    .filter((name) => name.startsWith(`${prefix}-shard-`))
    .map((name) => join(runs, name));
}

function assertSameFiles(expectedDir: string, actualDir: string): void {
  const files = (root: string): string[] =>
    readdirSync(root, { recursive: true, encoding: 'utf8' })
      .filter((p) => statSync(join(root, p)).isFile())
      .sort();
  const expected = files(expectedDir);
  assert.deepEqual(files(actualDir), expected, `the same files in ${actualDir} as in ${expectedDir}`);
  for (const file of expected)
    assert.ok(
      readFileSync(join(actualDir, file)).equals(readFileSync(join(expectedDir, file))),
      `${relative(actualDir, join(actualDir, file))} is byte-identical`,
    );
}

/** The jobs' logs, for failure messages. */
function jobLogs(dir: string): string {
  if (!existsSync(dir)) return '(no logs)';
  return readdirSync(dir)
    .sort()
    .map((name) => `--- ${name}\n${readFileSync(join(dir, name), 'utf8').split('\n').slice(-15).join('\n')}`)
    .join('\n');
}
