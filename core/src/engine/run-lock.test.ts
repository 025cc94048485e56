import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isExpgenError, memoryLogger } from '@expgen/contract';
import { LOCK_FILE, lockHolder, lockRunFolder, type LockHolder } from './run-lock.js';

const root = mkdtempSync(join(tmpdir(), 'expgen-lock-'));
after(() => rmSync(root, { recursive: true, force: true }));
let folders = 0;
const folder = () => join(root, `run-${folders++}`);

/** A pid that no process has: one of a child that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

function plant(dir: string, holder: Partial<LockHolder>): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  writeFileSync(
    path,
    JSON.stringify({ host: hostname(), pid: 1, started: '2025-01-01T00:00:00.000Z', command: 'expgen run', ...holder }),
  );
  return path;
}

/** A child process that takes the lock of `dir` and keeps it until killed. */
async function holdInChild(dir: string, command: string): Promise<ChildProcess> {
  const module = new URL('./run-lock.js', import.meta.url).href;
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { lockRunFolder } = await import(${JSON.stringify(module)});
       lockRunFolder(${JSON.stringify(dir)}, { command: ${JSON.stringify(command)} });
       process.stdout.write('locked\\n');
       setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  assert.equal(chunk.toString(), 'locked\n');
  return child;
}

const refusal = (pattern: RegExp) => (error: unknown) => isExpgenError(error) && pattern.test(error.message);

describe('lockRunFolder', () => {
  it('holds host, pid, start time and command, and another process is refused with one line naming them', async () => {
    const dir = folder();
    const holder = await holdInChild(dir, 'expgen run --out x');
    try {
      const held = lockHolder(dir)!;
      assert.equal(held.host, hostname());
      assert.equal(held.pid, holder.pid);
      assert.equal(held.command, 'expgen run --out x');
      assert.ok(!Number.isNaN(Date.parse(held.started)));
      assert.throws(
        () => lockRunFolder(dir),
        refusal(
          new RegExp(
            `^${dir} is being written by "expgen run --out x" \\(pid ${holder.pid} on host ${hostname()}, since .*\\): wait for it to finish, or use another --out folder$`,
          ),
        ),
      );
    } finally {
      holder.kill();
      await once(holder, 'exit');
    }
    // Killed without releasing: the lock is still there, and the next taker recognises it as stale.
    assert.ok(existsSync(join(dir, LOCK_FILE)));
    const lock = lockRunFolder(dir);
    assert.equal(lockHolder(dir)!.pid, process.pid);
    lock.release();
    assert.ok(!existsSync(join(dir, LOCK_FILE)), 'released');
  });

  it('a lock naming this very pid was left by an earlier process (a restarted container numbers pids afresh)', () => {
    const dir = folder();
    plant(dir, { pid: process.pid, started: '2020-01-01T00:00:00.000Z' });
    lockRunFolder(dir).release();
  });

  it('takes over a lock of this host whose process no longer runs, and says so', () => {
    const dir = folder();
    const pid = deadPid();
    plant(dir, { pid, command: 'expgen run --out killed' });
    const logger = memoryLogger();
    const lock = lockRunFolder(dir, { logger });
    assert.equal(lockHolder(dir)!.pid, process.pid);
    assert.match(
      logger.lines.join('\n'),
      new RegExp(`took over the lock of pid ${pid} \\("expgen run --out killed", since .*\\), which no longer runs`),
    );
    lock.release();
  });

  it('takes over a lock whose pid now belongs to another process, or that is from an earlier boot', () => {
    const reused = folder();
    plant(reused, { pid: process.ppid, processStart: 'not-its-start' });
    lockRunFolder(reused).release();
    if (existsSync('/proc/sys/kernel/random/boot_id')) {
      const rebooted = folder();
      plant(rebooted, { pid: process.ppid, bootId: 'an-earlier-boot' });
      lockRunFolder(rebooted).release();
    }
  });

  it('never takes over a lock from another host: the line says which file to delete after checking', () => {
    const dir = folder();
    const path = plant(dir, { host: 'gpu-node-17', pid: deadPid(), command: 'expgen run --shard 3/8' });
    const before = readFileSync(path);
    assert.throws(
      () => lockRunFolder(dir),
      refusal(
        new RegExp(
          `^${dir} is locked by "expgen run --shard 3/8" \\(pid \\d+ on host gpu-node-17, since .*\\): if that process no longer runs, delete ${path} and run the command again$`,
        ),
      ),
    );
    assert.deepEqual(readFileSync(path), before, 'the foreign lock is left as it was');
  });

  it('takes over the lock of an earlier run of this Slurm job on another node, which Slurm requeued', () => {
    const saved = { job: process.env.SLURM_JOB_ID, restart: process.env.SLURM_RESTART_COUNT };
    try {
      process.env.SLURM_JOB_ID = '7788';
      process.env.SLURM_RESTART_COUNT = '1';
      const dir = folder();
      plant(dir, { host: 'gpu-node-3', pid: 99, slurm: { jobId: '7788', restart: 0 } });
      const logger = memoryLogger();
      const lock = lockRunFolder(dir, { logger });
      assert.deepEqual(lockHolder(dir)!.slurm, { jobId: '7788', restart: 1 });
      assert.match(
        logger.lines.join('\n'),
        /earlier run of Slurm job 7788 \(pid 99 on host gpu-node-3, .*which Slurm requeued/,
      );
      lock.release();
      // The same run of the job on another node (or another job) is not vouched for.
      plant(dir, { host: 'gpu-node-3', pid: 99, slurm: { jobId: '7788', restart: 1 } });
      assert.throws(() => lockRunFolder(dir), refusal(/is locked by .*on host gpu-node-3/));
    } finally {
      for (const [key, value] of [
        ['SLURM_JOB_ID', saved.job],
        ['SLURM_RESTART_COUNT', saved.restart],
      ] as const)
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
    }
  });

  it('refuses a lock file it cannot read, saying which file to delete', () => {
    const dir = folder();
    mkdirSync(dir);
    writeFileSync(join(dir, LOCK_FILE), 'not json');
    assert.throws(() => lockRunFolder(dir), refusal(/holds a lock file that cannot be read .*delete .*expgen\.lock/));
  });

  it('release removes the folders it created when nothing was written in them, and keeps the rest', () => {
    const parent = folder();
    const dir = join(parent, 'a', 'b');
    lockRunFolder(dir).release();
    assert.ok(!existsSync(parent), 'every folder the lock created is gone again');
    const kept = folder();
    const lock = lockRunFolder(kept);
    writeFileSync(join(kept, 'results.jsonl'), '');
    lock.release();
    assert.deepEqual(readdirSync(kept), ['results.jsonl']);
    mkdirSync(join(root, 'existing'));
    lockRunFolder(join(root, 'existing')).release();
    assert.ok(existsSync(join(root, 'existing')), 'a folder that existed before stays');
  });

  it('release leaves a lock that is no longer its own (deleted and taken by another process)', () => {
    const dir = folder();
    const lock = lockRunFolder(dir);
    const other = plant(dir, { host: 'gpu-node-2' });
    lock.release();
    assert.ok(existsSync(other));
  });
});
