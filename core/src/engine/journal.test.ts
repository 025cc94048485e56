import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Journal } from './journal.js';

describe('Journal', () => {
  it('keeps entries across reopening, drops a torn last line, and never duplicates a key', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'expgen-journal-')), 'items.jsonl');
    const first = Journal.open<{ key: string; v: number }>(path, (e) => e.key);
    first.append({ key: 'a', v: 1 });
    first.append({ key: 'b', v: 2 });
    first.append({ key: 'a', v: 3 });
    first.close();
    appendFileSync(path, '{"key": "c", "v"'); // a kill in the middle of a write
    const second = Journal.open<{ key: string; v: number }>(path, (e) => e.key);
    assert.deepEqual(
      [...second.entries.values()],
      [
        { key: 'a', v: 1 },
        { key: 'b', v: 2 },
      ],
    );
    second.append({ key: 'c', v: 4 });
    second.close();
    assert.equal(readFileSync(path, 'utf8'), '{"key":"a","v":1}\n{"key":"b","v":2}\n{"key":"c","v":4}\n');
  });
  it("read() returns the whole entries and leaves a writer's torn last line in place", () => {
    const path = join(mkdtempSync(join(tmpdir(), 'expgen-journal-')), 'items.jsonl');
    writeFileSync(path, '{"key":"a","v":1}\n{"key":"b","v":2}\n{"key":"c"');
    assert.deepEqual([...Journal.read<{ key: string }>(path, (e) => e.key).keys()], ['a', 'b']);
    assert.equal(readFileSync(path, 'utf8'), '{"key":"a","v":1}\n{"key":"b","v":2}\n{"key":"c"', 'nothing truncated');
    assert.equal(Journal.read(join(path, '..', 'missing.jsonl'), (e: { key: string }) => e.key).size, 0);
  });

  it('refuses a damaged line in the middle', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'expgen-journal-')), 'items.jsonl');
    writeFileSync(path, '{"key":"a"}\nnot json\n{"key":"b"}\n');
    assert.throws(() => Journal.open(path, (e: { key: string }) => e.key), /items\.jsonl:2: not a JSON line/);
  });
});
