import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { ExpgenError } from '../contract/errors.js';

/**
 * An append-only JSON Lines file of finished work items (one per feature and sign), so a run killed at any moment
 * resumes without redoing or duplicating an item: each entry is one write followed by fsync, and a torn last line
 * (the kill came mid-write) is cut off when the journal is reopened. Entries are keyed; a key seen twice keeps
 * its first entry.
 */
export class Journal<T> {
  private constructor(
    readonly path: string,
    private readonly fd: number,
    readonly entries: Map<string, T>,
    private readonly keyOf: (entry: T) => string,
  ) {}

  static open<T>(path: string, keyOf: (entry: T) => string): Journal<T> {
    mkdirSync(dirname(path), { recursive: true });
    const entries = new Map<string, T>();
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      let good = 0;
      let lineNumber = 0;
      for (let start = 0; start < text.length; ) {
        const end = text.indexOf('\n', start);
        lineNumber++;
        if (end === -1) break; // no newline: the last write was torn
        const line = text.slice(start, end);
        let entry: T;
        try {
          entry = JSON.parse(line) as T;
        } catch {
          throw new ExpgenError(`${path}:${lineNumber}: not a JSON line: the journal is damaged; remove it to redo this stage`);
        }
        const key = keyOf(entry);
        if (!entries.has(key)) entries.set(key, entry);
        start = end + 1;
        good = Buffer.byteLength(text.slice(0, start));
      }
      if (good < Buffer.byteLength(text)) truncateSync(path, good);
    }
    return new Journal(path, openSync(path, 'a'), entries, keyOf);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  append(entry: T): void {
    const key = this.keyOf(entry);
    if (this.entries.has(key)) return;
    writeSync(this.fd, `${JSON.stringify(entry)}\n`);
    fsyncSync(this.fd);
    this.entries.set(key, entry);
  }

  close(): void {
    closeSync(this.fd);
  }
}
