import {
  closeSync,
  existsSync,
  fsync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { ExpgenError } from '@expgen/contract';

/**
 * An append-only JSON Lines file of finished work items (one per feature and sign), so a run killed at any moment
 * resumes without redoing or duplicating an item: each entry is one write, and a torn last line (the kill came
 * mid-write) is cut off when the journal is reopened. Entries are keyed; a key seen twice keeps its first entry.
 *
 * Durability: by default every entry is written and fsynced at once. With `groupCommitMs`, entries are written
 * and fsynced together at most that often (and on close): a kill or a power cut loses at most the last interval's
 * entries, which a resumed run redoes; what was committed is never torn or duplicated — for stages that finish
 * hundreds of items a second.
 */
export class Journal<T> {
  private lastSync = performance.now();
  private pending: string[] = [];
  /** A group commit's fsync runs in the thread pool; its failure is reported by the next append or close. */
  private syncError: Error | null = null;
  /** Background fsyncs not yet done: the descriptor stays open until they are. */
  private syncing = 0;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    readonly entries: Map<string, T>,
    private readonly keyOf: (entry: T) => string,
    private readonly groupCommitMs: number,
  ) {}

  /**
   * `upgrade` turns an entry as read into this version's shape (entries an earlier version wrote with other field
   * names); entries appended here are written as given.
   */
  static open<T>(
    path: string,
    keyOf: (entry: T) => string,
    options: { groupCommitMs?: number; upgrade?: (entry: Record<string, unknown>) => T } = {},
  ): Journal<T> {
    mkdirSync(dirname(path), { recursive: true });
    const { entries, goodBytes, totalBytes } = parse(path, keyOf, options.upgrade);
    if (goodBytes < totalBytes) truncateSync(path, goodBytes);
    return new Journal(path, openSync(path, 'a'), entries, keyOf, options.groupCommitMs ?? 0);
  }

  /**
   * The entries, for a reader that does not write (`expgen score` after `describe`, a dry run): nothing is created,
   * opened for writing or truncated, so a writer still appending in another process is left alone.
   */
  static read<T>(
    path: string,
    keyOf: (entry: T) => string,
    upgrade?: (entry: Record<string, unknown>) => T,
  ): Map<string, T> {
    return parse(path, keyOf, upgrade).entries;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  append(entry: T): void {
    if (this.syncError) throw this.syncError;
    const key = this.keyOf(entry);
    if (this.entries.has(key)) return;
    this.pending.push(`${JSON.stringify(entry)}\n`);
    this.entries.set(key, entry);
    const now = performance.now();
    if (now - this.lastSync >= this.groupCommitMs) {
      this.commit();
      this.lastSync = now;
    }
  }

  close(): void {
    if (this.pending.length) writeSync(this.fd, this.pending.join(''));
    this.pending = [];
    fsyncSync(this.fd);
    this.closed = true;
    if (this.syncing === 0) closeSync(this.fd);
    if (this.syncError) throw this.syncError;
  }

  /**
   * Writes the pending entries in one write and fsyncs them: at once without group commits; in the background
   * with them, so the thread that appends does not wait for the disk (close waits for everything).
   */
  private commit(): void {
    if (this.pending.length === 0) return;
    writeSync(this.fd, this.pending.join(''));
    this.pending = [];
    if (this.groupCommitMs === 0) fsyncSync(this.fd);
    else {
      this.syncing++;
      fsync(this.fd, (error) => {
        if (error) this.syncError ??= error;
        if (--this.syncing === 0 && this.closed) closeSync(this.fd);
      });
    }
  }
}

/** Whole lines of a journal file; a last line without its newline is a torn write, left out. */
function parse<T>(
  path: string,
  keyOf: (entry: T) => string,
  upgrade: ((entry: Record<string, unknown>) => T) | undefined,
): { entries: Map<string, T>; goodBytes: number; totalBytes: number } {
  const entries = new Map<string, T>();
  if (!existsSync(path)) return { entries, goodBytes: 0, totalBytes: 0 };
  const bytes = readFileSync(path);
  let good = 0;
  let lineNumber = 0;
  for (let start = 0; start < bytes.length; ) {
    const end = bytes.indexOf(0x0a, start);
    lineNumber++;
    if (end === -1) break;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(bytes.subarray(start, end).toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new ExpgenError(
        `${path}:${lineNumber}: not a JSON line: the journal is damaged; remove it to redo this stage`,
      );
    }
    const entry = upgrade ? upgrade(parsed) : (parsed as T);
    const key = keyOf(entry);
    if (!entries.has(key)) entries.set(key, entry);
    start = end + 1;
    good = start;
  }
  return { entries, goodBytes: good, totalBytes: bytes.length };
}
