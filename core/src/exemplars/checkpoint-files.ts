import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import { writeFileAtomic } from '@expgen/plugin-kit';
import type { ShardSpec } from './corpus/index.js';
import { EXEMPLARS_DIR, readExemplarManifest, type ExemplarManifest } from './storage/index.js';

const CHECKPOINT_DIR = 'checkpoint';

/** Where the stage keeps its checkpoint in a run folder. */
export function checkpointFolder(outDir: string): string {
  return join(outDir, EXEMPLARS_DIR, CHECKPOINT_DIR);
}
/** 2: states with gated extremes, a histogram sample and selected features; reference counts applied per batch. */
export const CHECKPOINT_FORMAT = 'expgen-exemplars-checkpoint/2';

/** What a checkpoint folder's `checkpoint.json` says: where the stream stands. */
export interface CheckpointInfo {
  readonly format: string;
  readonly configHash: string;
  readonly shard: ShardSpec;
  readonly group: number;
  /** The stream restarts here: every sequence with a smaller id was applied. */
  readonly resumeFrom: number;
  /** Sequences at or past `resumeFrom` that were applied already (drop them when the stream passes again). */
  readonly appliedAbove: readonly number[];
  readonly sequencesDone: number;
  readonly tokensDone: number;
}

/** The manifest of a complete output made under the same config, if there is one. */
export function completedOutput(outDir: string, configHash: string, shard: ShardSpec): ExemplarManifest | undefined {
  if (!existsSync(join(outDir, EXEMPLARS_DIR, 'manifest.json'))) return undefined;
  const manifest = readExemplarManifest(outDir);
  if (manifest.configHash !== configHash) {
    throw new ExpgenError(
      `${outDir} already holds exemplars made with another config (hash ${manifest.configHash.slice(0, 12)}): use another --out folder or remove it`,
    );
  }
  if (manifest.shard.index !== shard.index || manifest.shard.count !== shard.count) {
    throw new ExpgenError(
      `${outDir} holds the exemplars of shard ${manifest.shard.index}/${manifest.shard.count}, not ${shard.index}/${shard.count}: give each shard its own --out folder`,
    );
  }
  return manifest.complete ? manifest : undefined;
}

/**
 * A checkpoint is a folder written whole under a temporary name and renamed into place, so a kill at any moment
 * leaves either the previous checkpoint or the new one. Its files are named `*.state`, never `*.arrow`.
 */
export function writeCheckpoint(outDir: string, info: CheckpointInfo, files: ReadonlyMap<string, Uint8Array[]>): void {
  const root = join(outDir, EXEMPLARS_DIR);
  const final = join(root, CHECKPOINT_DIR);
  const temporary = join(root, `${CHECKPOINT_DIR}.tmp-${process.pid}`);
  rmSync(temporary, { recursive: true, force: true });
  mkdirSync(temporary, { recursive: true });
  for (const [name, chunks] of files) writeChunks(join(temporary, name), chunks);
  writeFileAtomic(join(temporary, 'checkpoint.json'), `${JSON.stringify(info, null, 2)}\n`);
  const previous = join(root, `${CHECKPOINT_DIR}.old-${process.pid}`);
  if (existsSync(final)) renameSync(final, previous);
  renameSync(temporary, final);
  rmSync(previous, { recursive: true, force: true });
}

/**
 * Writes a state's chunks one after the other: they are views of the live state (gigabytes per layer at the 8B
 * scale), so concatenating them first would double the memory and copy everything once more.
 */
function writeChunks(path: string, chunks: readonly Uint8Array[]): void {
  const fd = openSync(path, 'w');
  try {
    for (const chunk of chunks) {
      for (let written = 0; written < chunk.byteLength; )
        written += writeSync(fd, chunk, written, Math.min(chunk.byteLength - written, 1 << 30));
    }
  } finally {
    closeSync(fd);
  }
}

/** Removes the checkpoint and what killed runs left of theirs (`checkpoint.tmp-<pid>`, `checkpoint.old-<pid>`). */
export function removeCheckpoints(outDir: string): void {
  const root = join(outDir, EXEMPLARS_DIR);
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) {
    if (name === CHECKPOINT_DIR || name.startsWith(`${CHECKPOINT_DIR}.`))
      rmSync(join(root, name), { recursive: true, force: true });
  }
}

export function readCheckpoint(
  outDir: string,
  configHash: string,
  shard: ShardSpec,
): { info: CheckpointInfo; buffers: ReadonlyMap<string, Uint8Array> } | undefined {
  const root = join(outDir, EXEMPLARS_DIR);
  // A kill between the two renames leaves only the `.old-*` folder: it is the latest complete checkpoint.
  let folder = join(root, CHECKPOINT_DIR);
  if (!existsSync(folder) && existsSync(root)) {
    // Two kills between renames leave two: the newest is the latest checkpoint.
    const old = readdirSync(root)
      .filter((name) => name.startsWith(`${CHECKPOINT_DIR}.old-`))
      .map((name) => join(root, name))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    if (old) folder = old;
  }
  if (!existsSync(join(folder, 'checkpoint.json'))) return undefined;
  let info: CheckpointInfo;
  try {
    info = JSON.parse(readFileSync(join(folder, 'checkpoint.json'), 'utf8')) as CheckpointInfo;
  } catch {
    throw new ExpgenError(`${join(folder, 'checkpoint.json')} is damaged: remove ${folder} to start stage 1 over`);
  }
  if (info.format !== CHECKPOINT_FORMAT)
    throw new ExpgenError(
      `${folder}: checkpoint format ${info.format} is not ${CHECKPOINT_FORMAT}: remove the folder to start over`,
    );
  if (info.configHash !== configHash) {
    throw new ExpgenError(
      `${outDir} holds a checkpoint of a run with another config: use another --out folder, or remove ${folder} to start over`,
    );
  }
  if (info.shard.index !== shard.index || info.shard.count !== shard.count) {
    throw new ExpgenError(
      `${outDir} holds a checkpoint of shard ${info.shard.index}/${info.shard.count}, not ${shard.index}/${shard.count}: give each shard its own --out folder`,
    );
  }
  const buffers = new Map<string, Uint8Array>();
  for (const name of readdirSync(folder))
    if (name.endsWith('.state')) buffers.set(name, readFileSync(join(folder, name)));
  return { info, buffers };
}
