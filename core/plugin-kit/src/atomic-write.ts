import { mkdirSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync, rmSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errorAtTarget, temporaryPathFor, trackTemporary } from './temporary-files.js';

/**
 * Writes a file so that readers see either the old content or the whole new one, never a torn write. The content
 * goes to a `*.tmp-<pid>-<n>` file renamed over `path`; that temporary is removed when the write fails (a full
 * disk, a read-only folder) and, through `removeTemporaries()`, when the process is interrupted, so only a
 * SIGKILL can leave one behind (and no reader mistakes it for output). A failure names `path`, not the temporary.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const temporary = temporaryPathFor(path);
  const forget = trackTemporary(temporary);
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(temporary, data);
    const fd = openSync(temporary, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw errorAtTarget(error, temporary, path);
  } finally {
    forget();
  }
}

/**
 * Makes a folder whole or not at all: `produce` fills a scratch folder beside `dir`, which is then renamed into
 * place, so a killed process never leaves a folder that looks complete (and an interrupted or failed one leaves no
 * scratch folder). `isComplete(dir)` says whether a finished folder is already there (then nothing is produced);
 * when another process renamed its identical copy into place first, that copy serves.
 */
export async function produceFolderOnce(
  dir: string,
  isComplete: (dir: string) => boolean,
  produce: (scratch: string) => Promise<void>,
): Promise<boolean> {
  if (isComplete(dir)) return false;
  const scratch = `${dir}.partial-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const forget = trackTemporary(scratch);
  try {
    await mkdir(scratch, { recursive: true });
    await produce(scratch);
    if (!isComplete(dir)) {
      await rm(dir, { recursive: true, force: true });
      await rename(scratch, dir).catch((error: unknown) => {
        if (!isComplete(dir)) throw error;
      });
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
    forget();
  }
  return true;
}
