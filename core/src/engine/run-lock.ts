import { existsSync, linkSync, mkdirSync, readFileSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ExpgenError, type Logger } from '@expgen/contract';
import { temporaryPathFor, trackTemporary } from '@expgen/plugin-kit';
import { fileSystemErrorLine } from './file-system-errors.js';
import { onInterrupt, setInterruptHint } from './interrupts.js';

/** The lock file every command that writes a run folder holds while it runs. */
export const LOCK_FILE = 'expgen.lock';

/** What a lock file holds: enough to tell who holds it, and on the same host whether that process still runs. */
export interface LockHolder {
  readonly host: string;
  readonly pid: number;
  /** ISO time the lock was taken. */
  readonly started: string;
  /** The command line, e.g. `expgen run --out runs/demo`. */
  readonly command: string;
  /** Linux: the kernel's boot id; a lock from an earlier boot is stale whatever its pid. */
  readonly bootId?: string;
  /** Linux: the holder's start time in clock ticks since boot; a live pid with another start time was reused. */
  readonly processStart?: string;
  /** Under Slurm: the job and how many times it was requeued (`SLURM_JOB_ID`, `SLURM_RESTART_COUNT`). */
  readonly slurm?: { readonly jobId: string; readonly restart: number };
}

export interface RunFolderLock {
  readonly dir: string;
  readonly path: string;
  /** Removes the lock (if it is still this process's) and the run folder if this lock created it and it is empty. */
  release(): void;
}

export interface LockOptions {
  /** The command line recorded in the lock, shown to a process that is refused. */
  readonly command?: string;
  /** Says when a stale lock of a process that no longer runs is taken over. */
  readonly logger?: Logger;
  /** What to do after an interrupt, when it is not "run the same command again to resume". */
  readonly interruptHint?: string;
}

/**
 * Takes the lock of a run folder (creating the folder if needed), so that one process at a time writes it: two
 * `expgen run --out SAME` would otherwise both do all the work and journal every key twice.
 *
 * The lock file is created atomically (written under a temporary name, then hard-linked to `expgen.lock`, which
 * fails if it exists — safe on NFS, where run folders of sharded runs live). When it exists:
 * - held by a live process on this host: refused, naming the process;
 * - held by a process of this host that no longer runs (killed, crashed, or from before a reboot, or its pid now
 *   belongs to another process): taken over, with a log line saying so;
 * - held on another host: refused, never taken over — expgen cannot see that host's processes — with the file
 *   to delete once the user has checked that the process there has stopped. One exception, which Slurm vouches
 *   for: a lock of an earlier run of this very Slurm job (same job id, fewer restarts), which Slurm ended before
 *   it requeued the job, possibly onto another node; it is taken over with a log line.
 * Interrupts (Ctrl-C, SIGTERM) release the lock through the interrupt module.
 */
export function lockRunFolder(dir: string, options: LockOptions = {}): RunFolderLock {
  const folder = resolve(dir);
  const path = join(folder, LOCK_FILE);
  if (heldHere.has(path)) throw new Error(`${folder} is locked twice by one process (a bug in the calling command)`);
  const firstCreated = mkdirSync(folder, { recursive: true });
  const own = currentHolder(options.command ?? commandLine());
  let removeFolders = () => {};
  if (firstCreated !== undefined) removeFolders = () => removeEmptyFolders(folder, resolve(firstCreated));
  try {
    acquire(folder, path, own, options.logger);
    heldHere.add(path);
  } catch (error) {
    removeFolders();
    // A read-only folder is found here, before any work: say so about the folder, not the lock file.
    const line = fileSystemErrorLine(error, { verb: 'cannot write in', path: folder });
    throw line ? new ExpgenError(line, { cause: error }) : error;
  }

  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    heldHere.delete(path);
    stopOnInterrupt();
    restoreHint();
    process.removeListener('exit', release);
    const holder = readHolder(path);
    if (holder && sameHolder(holder, own)) rmSync(path, { force: true });
    removeFolders();
  };
  const stopOnInterrupt = onInterrupt(release);
  const restoreHint = options.interruptHint ? setInterruptHint(options.interruptHint) : () => {};
  // A command that ends through process.exit() elsewhere still leaves no lock behind.
  process.once('exit', release);
  return { dir: folder, path, release };
}

/** Locks this process holds: a lock file naming this pid and not among them was left by an earlier process. */
const heldHere = new Set<string>();

/** Who holds the lock of `dir`, or null when it is free (for `expgen` commands that only read a run folder). */
export function lockHolder(dir: string): LockHolder | null {
  return readHolder(join(resolve(dir), LOCK_FILE));
}

function acquire(folder: string, path: string, own: LockHolder, logger: Logger | undefined): void {
  const text = `${JSON.stringify(own, null, 2)}\n`;
  // Each pass either takes the lock, refuses, or removes a stale lock; a few passes settle any race.
  for (let attempt = 0; attempt < 5; attempt++) {
    if (createExclusive(path, text)) return;
    const holder = readHolderPatiently(path);
    if (holder === 'gone') continue;
    if (holder === 'unreadable') {
      throw new ExpgenError(
        `${folder} holds a lock file that cannot be read (${path}): if no expgen process is writing ${folder}, delete ${path} and run the command again`,
      );
    }
    const verdict = judge(holder);
    if (verdict === 'requeued') {
      takeOver(folder, path, holder, own);
      logger?.info(
        `${folder}: took over the lock of an earlier run of Slurm job ${holder.slurm!.jobId} (pid ${holder.pid} on host ${holder.host}, since ${holder.started}), which Slurm requeued`,
      );
      continue;
    }
    if (verdict === 'foreign') {
      throw new ExpgenError(
        `${folder} is locked by "${holder.command}" (pid ${holder.pid} on host ${holder.host}, since ${holder.started}): if that process no longer runs, delete ${path} and run the command again`,
      );
    }
    if (verdict === 'alive') {
      throw new ExpgenError(
        `${folder} is being written by "${holder.command}" (pid ${holder.pid} on host ${holder.host}, since ${holder.started}): wait for it to finish, or use another --out folder`,
      );
    }
    takeOver(folder, path, holder, own);
    logger?.info(
      `${folder}: took over the lock of pid ${holder.pid} ("${holder.command}", since ${holder.started}), which no longer runs`,
    );
  }
  throw new ExpgenError(
    `${folder}: could not take the lock ${path}: other expgen processes keep taking it; run one command per run folder`,
  );
}

/**
 * Removes a stale lock, holding a second lock file (`expgen.lock.takeover`) meanwhile: two processes that both
 * found the same stale lock must not both remove it, or the slower would remove the faster one's new lock.
 */
function takeOver(folder: string, path: string, stale: LockHolder, own: LockHolder): void {
  const guard = `${path}.takeover`;
  if (!createExclusive(guard, `${JSON.stringify(own)}\n`)) {
    const other = readHolder(guard);
    // A process killed in the microseconds between taking and releasing the guard leaves it behind.
    if (other && judge(other) === 'dead') rmSync(guard, { force: true });
    else
      throw new ExpgenError(
        `${folder}: another expgen process is taking over its stale lock right now: run one command per run folder`,
      );
    return;
  }
  try {
    const current = readHolder(path);
    if (current && sameHolder(current, stale)) rmSync(path, { force: true });
  } finally {
    rmSync(guard, { force: true });
  }
}

/** Creates `path` holding `text` if it does not exist, atomically; false when it exists. */
function createExclusive(path: string, text: string): boolean {
  const temporary = temporaryPathFor(path);
  const forget = trackTemporary(temporary);
  try {
    writeFileSync(temporary, text, { flag: 'wx' });
    try {
      linkSync(temporary, path);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      // File systems without hard links: an exclusive create, written right after (readers retry a short while).
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EOPNOTSUPP') {
        try {
          writeFileSync(path, text, { flag: 'wx' });
          return true;
        } catch (inner) {
          if ((inner as NodeJS.ErrnoException).code === 'EEXIST') return false;
          throw inner;
        }
      }
      throw error;
    }
  } finally {
    rmSync(temporary, { force: true });
    forget();
  }
}

function readHolder(path: string): LockHolder | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (typeof value.host === 'string' && typeof value.pid === 'number' && typeof value.started === 'string')
      return { command: 'expgen', ...value } as LockHolder;
  } catch {
    // Unreadable: see readHolderPatiently.
  }
  return null;
}

/** Reads a lock that exists; one being written by a fallback exclusive create is given a moment to fill. */
function readHolderPatiently(path: string): LockHolder | 'gone' | 'unreadable' {
  for (let i = 0; i < 10; i++) {
    const holder = readHolder(path);
    if (holder) return holder;
    if (!existsSync(path)) return 'gone';
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
  return 'unreadable';
}

function judge(holder: LockHolder): 'alive' | 'dead' | 'foreign' | 'requeued' {
  if (holder.host !== hostname()) {
    const job = slurmJob();
    const requeued = job && holder.slurm?.jobId === job.jobId && holder.slurm.restart < job.restart;
    return requeued ? 'requeued' : 'foreign';
  }
  const bootId = readBootId();
  if (holder.bootId && bootId && holder.bootId !== bootId) return 'dead';
  // A restarted container numbers its processes afresh: the pid of the process that died may now be this one's.
  if (holder.pid === process.pid) return 'dead';
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return 'dead';
  }
  const started = processStart(holder.pid);
  if (holder.processStart && started && holder.processStart !== started) return 'dead';
  return 'alive';
}

function sameHolder(a: LockHolder, b: LockHolder): boolean {
  return a.host === b.host && a.pid === b.pid && a.started === b.started;
}

function currentHolder(command: string): LockHolder {
  const bootId = readBootId();
  const start = processStart(process.pid);
  return {
    host: hostname(),
    pid: process.pid,
    started: new Date().toISOString(),
    command,
    ...(bootId ? { bootId } : {}),
    ...(start ? { processStart: start } : {}),
    ...(slurmJob() ? { slurm: slurmJob()! } : {}),
  };
}

function slurmJob(): { jobId: string; restart: number } | undefined {
  const jobId = process.env.SLURM_JOB_ID;
  if (!jobId) return undefined;
  const restart = Number(process.env.SLURM_RESTART_COUNT ?? 0);
  return { jobId, restart: Number.isSafeInteger(restart) ? restart : 0 };
}

function commandLine(): string {
  return ['expgen', ...process.argv.slice(2)].join(' ');
}

function readBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat (after the parenthesised name, which may hold spaces). */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Removes `leaf` and its parents up to `top` while they are empty: what this lock created and nothing wrote in. */
function removeEmptyFolders(leaf: string, top: string): void {
  let folder = leaf;
  for (;;) {
    try {
      if (readdirSync(folder).length > 0) return;
      rmdirSync(folder);
    } catch {
      return;
    }
    if (folder === top) return;
    const parent = dirname(folder);
    if (parent === folder) return;
    folder = parent;
  }
}
