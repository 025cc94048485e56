/**
 * File-system failures as the one line a user can act on: which path, what went wrong, what to do. Node's own
 * text ("EACCES: permission denied, open 'out/results.jsonl.tmp-4242-0-x1y2z3'") names a syscall and, for atomic
 * writes, a temporary file the user never asked for.
 */
const REASONS: Record<string, { what: string; todo: string }> = {
  EACCES: {
    what: 'permission denied',
    todo: 'choose a folder you can write (--out), or change its permissions',
  },
  EPERM: {
    what: 'operation not permitted',
    todo: 'choose a folder you can write (--out), or change its permissions',
  },
  EROFS: { what: 'the file system is read-only', todo: 'choose a folder on a writable file system (--out)' },
  ENOTDIR: {
    what: 'a part of this path is a file, not a folder',
    todo: 'choose another path, or move that file away',
  },
  EISDIR: { what: 'this is a folder, where a file was expected', todo: 'name a file, or remove that folder' },
  ENOSPC: {
    what: 'no space left on the device',
    todo: 'free some space (or choose a folder on another disk), then run the same command again to resume',
  },
  EDQUOT: {
    what: 'the disk quota is exceeded',
    todo: 'free some space (or choose a folder on another disk), then run the same command again to resume',
  },
  ENAMETOOLONG: { what: 'the path is too long', todo: 'choose a shorter path' },
  ENOENT: { what: 'no such file or folder', todo: 'check the path' },
  EMFILE: { what: 'too many open files', todo: 'raise the limit (ulimit -n) and run the same command again' },
  ENFILE: { what: 'too many open files in the system', todo: 'run the same command again when fewer files are open' },
};

const VERBS: Record<string, string> = {
  mkdir: 'cannot create the folder',
  open: 'cannot open',
  write: 'cannot write',
  close: 'cannot write',
  fsync: 'cannot write',
  rename: 'cannot write',
  link: 'cannot write',
  copyfile: 'cannot write',
  unlink: 'cannot remove',
  rmdir: 'cannot remove',
  rm: 'cannot remove',
};

/**
 * The line for a file-system error (`code` and `path` set by Node), or null when `error` is not one. Temporary
 * names (`*.tmp-…`, `*.partial-…`) are shown as the file they stand for. `about` names what the caller was doing
 * when the syscall alone does not say it ("cannot write in" a run folder, rather than "cannot open" a file in it).
 */
export function fileSystemErrorLine(error: unknown, about?: { verb: string; path: string }): string | null {
  const errno = error as (NodeJS.ErrnoException & { dest?: string }) | null;
  if (typeof errno !== 'object' || errno === null || typeof errno.code !== 'string') return null;
  const reason = REASONS[errno.code];
  const raw = errno.dest ?? errno.path;
  if (!reason || typeof raw !== 'string') return null;
  // rename(src, dest) reports both; a failure to create the destination is about the destination.
  const path = targetOf(errno.syscall === 'rename' && errno.code !== 'ENOENT' ? raw : (errno.path ?? raw));
  const verb = about?.verb ?? (errno.syscall && VERBS[errno.syscall]) ?? 'cannot read';
  return `${verb} ${about?.path ?? path}: ${reason.what} (${errno.code}); ${reason.todo}`;
}

/**
 * Gives a file-system error that names no path the folder it happened in. A write to a descriptor that fails (a full
 * disk while a stage writes a checkpoint) names none; the run folder is the most a command can say.
 */
export function inFolder(error: unknown, folder: string): unknown {
  const errno = error as NodeJS.ErrnoException | null;
  if (typeof errno !== 'object' || errno === null || typeof errno.code !== 'string' || !REASONS[errno.code])
    return error;
  if (typeof errno.path !== 'string') {
    errno.path = folder;
    errno.syscall ??= 'write';
  }
  return errno;
}

/** `out/results.jsonl.tmp-4242-0-x1y2z3` -> `out/results.jsonl`; `out/model.partial-4242-ab12` -> `out/model`. */
export function targetOf(path: string): string {
  return path.replace(/\.(tmp|partial)-\d+[-\w]*(?=$|[/\\])/, '');
}
