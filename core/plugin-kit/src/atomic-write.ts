import { mkdirSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes a file so that readers see either the old content or the whole new one, never a torn write: a killed
 * process leaves at most a `*.tmp-<pid>` file behind, which no reader mistakes for output.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${process.pid}`;
  writeFileSync(temporary, data);
  const fd = openSync(temporary, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}

/**
 * Makes a folder whole or not at all: `produce` fills a scratch folder beside `dir`, which is then renamed into
 * place, so a killed process never leaves a folder that looks complete. `isComplete(dir)` says whether a finished
 * folder is already there (then nothing is produced); when another process renamed its identical copy into place
 * first, that copy serves.
 */
export async function produceFolderOnce(
  dir: string,
  isComplete: (dir: string) => boolean,
  produce: (scratch: string) => Promise<void>,
): Promise<boolean> {
  if (isComplete(dir)) return false;
  const scratch = `${dir}.partial-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await mkdir(scratch, { recursive: true });
  try {
    await produce(scratch);
    if (!isComplete(dir)) {
      await rm(dir, { recursive: true, force: true });
      await rename(scratch, dir).catch((error: unknown) => {
        if (!isComplete(dir)) throw error;
      });
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return true;
}
