import { rmSync } from 'node:fs';

/**
 * Temporary files and folders written on the way to an atomic rename, known by name so that none outlives the
 * process that made it. A writer registers its temporary before creating it and forgets it once it was renamed
 * into place or removed; an interrupted process (Ctrl-C, SIGTERM from a scheduler) calls `removeTemporaries()`
 * before it exits. The registry lives on `globalThis` under a `Symbol.for` key, so every copy of this package
 * loaded in one process (a plugin that installed its own) shares it and one handler cleans up after all of them.
 */
const REGISTRY = Symbol.for('expgen.temporaries');

function registry(): Set<string> {
  const global = globalThis as { [REGISTRY]?: Set<string> };
  global[REGISTRY] ??= new Set<string>();
  return global[REGISTRY];
}

let counter = 0;

/**
 * A name beside `path` for writing it atomically: `<path>.tmp-<pid>-<n>-<random>`, never a name a reader of
 * `path`'s folder mistakes for output. The random part keeps apart processes of equal pid on different hosts that
 * share a folder (the call cache of a sharded run on shared storage).
 */
export function temporaryPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${counter++}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Registers `path` (a file, or a folder removed with everything in it) as temporary. Returns the function to call
 * once it is gone or renamed into place, after which an interrupt no longer removes it.
 */
export function trackTemporary(path: string): () => void {
  const paths = registry();
  paths.add(path);
  return () => {
    paths.delete(path);
  };
}

/**
 * Removes every registered temporary that is still there, synchronously (safe in a signal handler and in an
 * `exit` listener), and returns the paths it removed. Failures are ignored: this runs while the process ends.
 */
export function removeTemporaries(): string[] {
  const removed: string[] = [];
  const paths = registry();
  for (const path of [...paths]) {
    try {
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // Nothing more can be done while the process ends; the name still says it is temporary.
    }
    paths.delete(path);
  }
  return removed;
}

/**
 * Rewrites a file-system error raised on `temporary` so that it names `target`, the file the user asked for:
 * "EACCES: permission denied, open 'out/results.jsonl'" rather than the temporary's name. An error of a write to
 * a descriptor (a full disk) names no path at all: it gets `target`. The error keeps its `code` and `syscall`, so
 * callers still tell a full disk from a read-only folder.
 */
export function errorAtTarget(error: unknown, temporary: string, target: string): unknown {
  const errno = error as NodeJS.ErrnoException & { dest?: string };
  if (typeof errno !== 'object' || errno === null || typeof errno.message !== 'string') return error;
  if (errno.path === temporary || (errno.path === undefined && typeof errno.code === 'string')) errno.path = target;
  if (errno.dest === temporary) errno.dest = target;
  errno.message = errno.message.split(temporary).join(target);
  return errno;
}

/**
 * Runs `work`, which writes `temporary` and renames it into place, with `temporary` registered meanwhile: an
 * interrupt removes it, and so does a failure of `work` (whose error is rethrown naming `target` when given).
 */
export async function withTemporary<T>(temporary: string, work: () => Promise<T>, target?: string): Promise<T> {
  const forget = trackTemporary(temporary);
  try {
    return await work();
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    throw target === undefined ? error : errorAtTarget(error, temporary, target);
  } finally {
    forget();
  }
}
