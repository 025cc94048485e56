import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertOneLineError, repoRoot, runCli, tempDir, testCacheDir, type CliResult } from './helpers/run-cli.js';

/**
 * What a run folder goes through besides a clean run, with the CLI as users run it: a second `expgen run` into
 * the same folder, a rerun refused for its config, locks left by killed processes or held on another host, and
 * Ctrl-C at several moments followed by the same command again.
 */
describe('a run folder is never damaged by a refused, concurrent or interrupted command', () => {
  const dir = tempDir('expgen-run-folder-');
  const small = ['--set', 'exemplars.sequences=300', '--set', 'activation.options.layers=[1]'];
  const whole = join(dir, 'whole');
  let second: CliResult;

  before(async () => {
    // The uninterrupted run every other test compares with, and a second run into its folder while it works.
    const first = spawnCli(['run', '--out', whole, ...small]);
    await first.waitFor(() => existsSync(join(whole, 'expgen.lock')));
    second = await runCli(['run', '--out', whole, ...small]);
    const result = await first.done;
    assert.equal(result.code, 0, result.stderr);
  });

  it('a second run into a folder being written is refused with one line naming the host and the process', () => {
    const line = assertOneLineError(second);
    assert.equal(second.code, 2);
    assert.match(
      line,
      new RegExp(
        `^expgen: ${whole} is being written by "expgen run --out ${whole} .*" \\(pid \\d+ on host ${hostname()}, since [0-9T:.Z-]+\\): wait for it to finish, or use another --out folder$`,
      ),
    );
    for (const journal of ['descriptions/journal.jsonl', 'score/journal.jsonl']) {
      const keys = readLines(join(whole, journal)).map((entry) => entry.key);
      assert.equal(new Set(keys).size, keys.length, `${journal} holds every key once`);
    }
    assert.ok(!existsSync(join(whole, 'expgen.lock')), 'the finished run released its lock');
  });

  it('a rerun refused for a different config leaves every file of the finished folder byte-identical', async () => {
    const before = treeHash(whole);
    const refused = await runCli(['run', '--out', whole, ...small, '--set', 'describe.candidates=3']);
    assert.match(assertOneLineError(refused), /holds descriptions made with a different config \(describe\.candidates/);
    const scoreOnly = await runCli(['score', '--out', whole, ...small, '--set', 'score.seed=7']);
    assert.match(assertOneLineError(scoreOnly), /holds score made with a different config/);
    assert.equal(treeHash(whole), before);
  });

  it('a lock left by a killed process of this host is taken over, saying so', async () => {
    const out = join(dir, 'stale');
    plantLock(out, { host: hostname(), pid: deadPid(), command: 'expgen exemplars --out stale' });
    const result = await runCli(['exemplars', '--out', out, ...small]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /took over the lock of pid \d+ \("expgen exemplars --out stale", .*which no longer runs/,
    );
    assert.ok(!existsSync(join(out, 'expgen.lock')));
  });

  it('a lock held on another host is never taken over: the line says which file to delete after checking', async () => {
    const out = join(dir, 'foreign');
    const lock = plantLock(out, { host: 'gpu-node-17', pid: 4242, command: 'expgen run --shard 3/8' });
    const result = await runCli(['run', '--out', out, ...small]);
    assert.equal(result.code, 2);
    assert.equal(
      assertOneLineError(result),
      `expgen: ${out} is locked by "expgen run --shard 3/8" (pid 4242 on host gpu-node-17, since 2025-01-01T00:00:00.000Z): if that process no longer runs, delete ${lock} and run the command again`,
    );
    assert.deepEqual(readdirSync(out), ['expgen.lock'], 'nothing else was written');
  });

  it('a full disk names the file and what to do; once space is freed the same command finishes', async (t) => {
    const disk = tempDir('expgen-full-disk-');
    // A 256 kB file system: room for the lock and the manifests, not for the exemplar files.
    if (
      process.getuid?.() !== 0 ||
      spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', disk]).status !== 0
    ) {
      t.skip('needs to mount a small tmpfs (root with CAP_SYS_ADMIN)');
      return;
    }
    try {
      const out = join(disk, 'run');
      const args = ['exemplars', '--out', out, ...small];
      const full = await runCli(args);
      assert.equal(full.code, 2, full.stderr);
      assert.match(
        assertOneLineError(full),
        new RegExp(
          `^expgen: cannot write ${out}/\\S+: no space left on the device \\(ENOSPC\\); free some space \\(or choose a folder on another disk\\), then run the same command again to resume$`,
        ),
      );
      assert.deepEqual(temporaries(out), [], 'no temporary file or lock is left on the full disk');
      assert.equal(spawnSync('mount', ['-o', 'remount,size=64m', disk]).status, 0);
      const resumed = await runCli(args);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.deepEqual(outputs(join(out, 'exemplars')), outputs(join(whole, 'exemplars')));
    } finally {
      spawnSync('umount', [disk]);
    }
  });

  describe('Ctrl-C (SIGINT) at several moments, then the same command again', () => {
    for (const moment of ['exemplars', 'describing', 'scoring']) {
      it(`while ${moment === 'exemplars' ? 'keeping exemplars' : moment}: one line, no temporary file, then the same outputs`, async () => {
        const out = join(dir, `interrupted-${moment}`);
        const args = ['run', '--out', out, ...small];
        const child = spawnCli(args);
        await child.waitFor(() => child.stderr().includes(`${moment} `));
        child.kill('SIGINT');
        const interrupted = await child.done;
        if (moment === 'exemplars') {
          // Stage 1 writes a checkpoint first, then ends with status 130 and says where the checkpoint is.
          assert.equal(interrupted.code, 130, interrupted.stderr);
          assert.match(
            interrupted.stderr.trim().split('\n').at(-1)!,
            /^expgen: interrupted by SIGINT: stage 1 checkpoint written to .*; run the same command again to resume where it stopped$/,
          );
        } else {
          // Ended by SIGINT itself, as a shell sees it (status 130): every finished item is journaled already.
          assert.equal(interrupted.signal, 'SIGINT', interrupted.stderr);
          assert.equal(
            interrupted.stderr.trim().split('\n').at(-1),
            'expgen: interrupted by SIGINT; run the same command again to resume where it stopped',
          );
        }
        assert.deepEqual(temporaries(out), [], 'no temporary file or folder is left, and no lock');
        assert.ok(!existsSync(join(out, 'results.jsonl')), 'the run did not finish before the interrupt');

        const resumed = await runCli(args);
        assert.equal(resumed.code, 0, resumed.stderr);
        assert.deepEqual(outputs(out), outputs(whole));
      });
    }
  });
});

describe('file-system failures and bad input are one line with exit code 2', () => {
  const dir = tempDir('expgen-fs-errors-');

  it('a read-only folder names the folder and what to do', async (t) => {
    if (process.getuid?.() !== 0 || spawnSync('setpriv', ['--version']).status !== 0) {
      t.skip('needs root and setpriv to run as nobody (permissions do not stop root)');
      return;
    }
    // The test folders are mkdtemp'd (0700): let nobody through to a folder it may read but not write.
    const open = tempDir('expgen-readonly-');
    spawnSync('chmod', ['755', open]);
    const home = join(open, 'home');
    spawnSync('mkdir', ['-m', '777', home]);
    const child = spawnSync(
      'setpriv',
      [
        '--reuid=nobody',
        '--regid=nogroup',
        '--clear-groups',
        'env',
        `HOME=${home}`,
        process.execPath,
        join(repoRoot, 'core/bin/run.js'),
        'run',
        '--out',
        open,
      ],
      { cwd: repoRoot, env: { ...process.env, XDG_CACHE_HOME: home } },
    );
    const result = { code: child.status, stdout: child.stdout.toString(), stderr: child.stderr.toString() };
    assert.equal(result.code, 2, result.stderr);
    assert.equal(
      assertOneLineError(result),
      `expgen: cannot write in ${open}: permission denied (EACCES); choose a folder you can write (--out), or change its permissions`,
    );
    assert.deepEqual(readdirSync(open), ['home']);
  });

  it('an --out whose parent is a file', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const result = await runCli(['exemplars', '--out', join(file, 'run')]);
    assert.equal(result.code, 2);
    assert.equal(
      assertOneLineError(result),
      `expgen: cannot create the folder ${join(file, 'run')}: a part of this path is a file, not a folder (ENOTDIR); choose another path, or move that file away`,
    );
  });

  it('a YAML syntax error gives the line, the column and the reason', async () => {
    const config = join(dir, 'broken.yaml');
    writeFileSync(config, 'exemplars:\n  topK: 5\n  seqLen: [1, 2\nfeatures: null\n');
    const result = await runCli(['config', '--config', config]);
    assert.equal(result.code, 2);
    assert.equal(
      assertOneLineError(result),
      `expgen: ${config}: YAML syntax error at line 4, column 1: missed comma between flow collection entries; fix the file`,
    );
  });

  it('an empty dataset', async () => {
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '');
    const result = await runCli(['run', '--out', join(dir, 'empty-run'), '--data', empty]);
    assert.equal(result.code, 2);
    assert.equal(
      assertOneLineError(result),
      'expgen: dataset "empty" yields no sequence: it has no documents; check its files and options, or remove it from the datasets',
    );
  });

  it('describing exemplars of a layer the activation source does not read says why', async () => {
    const exemplars = join(dir, 'layer-1');
    const made = await runCli([
      'exemplars',
      '--out',
      exemplars,
      '--set',
      'exemplars.sequences=60',
      '--set',
      'activation.options.layers=[1]',
    ]);
    assert.equal(made.code, 0, made.stderr);
    const out = join(dir, 'layer-0');
    const result = await runCli([
      'describe',
      '--exemplars',
      exemplars,
      '--out',
      out,
      '--set',
      'activation.options.layers=[0]',
    ]);
    assert.equal(result.code, 2);
    assert.match(
      assertOneLineError(result),
      /^expgen: the exemplars in .*layer-1 hold layer\(s\) 1, and the features selected are in layer\(s\) 0 .*run "expgen exemplars" for layer\(s\) 0$/,
    );
    assert.ok(!existsSync(out), 'the refused command leaves no folder behind');
  });
});

interface SpawnedCli {
  readonly done: Promise<CliResult & { signal: NodeJS.Signals | null }>;
  stderr(): string;
  kill(signal: NodeJS.Signals): void;
  /** Resolves once `condition` holds (polled); rejects if the process exits first. */
  waitFor(condition: () => boolean): Promise<void>;
}

function spawnCli(args: string[]): SpawnedCli {
  const child = spawn(process.execPath, [join(repoRoot, 'core/bin/run.js'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, XDG_CACHE_HOME: testCacheDir(), NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  const done = new Promise<CliResult & { signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      exited = true;
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return {
    done,
    stderr: () => stderr,
    kill: (signal) => child.kill(signal),
    async waitFor(condition) {
      while (!condition()) {
        if (exited) throw new Error(`the process ended before the awaited moment:\n${stderr}`);
        await sleep(5);
      }
    },
  };
}

function plantLock(dir: string, holder: { host: string; pid: number; command: string }): string {
  spawnSync('mkdir', ['-p', dir]);
  const path = join(dir, 'expgen.lock');
  writeFileSync(path, JSON.stringify({ ...holder, started: '2025-01-01T00:00:00.000Z' }));
  return path;
}

/** A pid no process has: that of a child that has exited. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
}

function listFiles(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((name) => statSync(join(root, name)).isFile())
    .sort();
}

/** sha256 over every file's path and bytes. */
function treeHash(root: string): string {
  const hash = createHash('sha256');
  for (const name of listFiles(root)) hash.update(`${name}\0`).update(readFileSync(join(root, name)));
  return hash.digest('hex');
}

/** What an interrupt may leave and must not: temporaries of atomic writes, scratch folders, locks. */
function temporaries(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((name) =>
    /\.tmp-|\.partial-|\.importing-|\.merging-|expgen\.lock/.test(name),
  );
}

/**
 * The outputs a resumed run must share with an uninterrupted one, byte for byte: everything but the journals,
 * whose lines are in the order the work finished, and the report, whose title is the folder's name.
 */
function outputs(root: string): Record<string, string> {
  return Object.fromEntries(
    listFiles(root)
      .filter((name) => !name.endsWith('journal.jsonl') && name !== 'report.html')
      .map((name) => [
        name,
        createHash('sha256')
          .update(readFileSync(join(root, name)))
          .digest('hex'),
      ]),
  );
}

function readLines(path: string): { key: string }[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { key: string });
}
