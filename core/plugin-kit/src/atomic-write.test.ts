import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { produceFolderOnce, writeFileAtomic } from './atomic-write.js';
import { removeTemporaries, temporaryPathFor, trackTemporary, withTemporary } from './temporary-files.js';

const root = mkdtempSync(join(tmpdir(), 'expgen-atomic-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('writes the whole file and leaves nothing else', () => {
    const dir = join(root, 'ok');
    writeFileAtomic(join(dir, 'a.json'), '{"a":1}\n');
    writeFileAtomic(join(dir, 'a.json'), '{"a":2}\n');
    assert.deepEqual(readdirSync(dir), ['a.json']);
    assert.equal(readFileSync(join(dir, 'a.json'), 'utf8'), '{"a":2}\n');
  });

  it('a failed write removes its temporary file and names the file asked for, keeping the error code', () => {
    const dir = join(root, 'fails');
    mkdirSync(join(dir, 'results.jsonl'), { recursive: true }); // a folder where the file should go
    assert.throws(
      () => writeFileAtomic(join(dir, 'results.jsonl'), 'x'),
      (error: NodeJS.ErrnoException) =>
        typeof error.code === 'string' &&
        !error.message.includes('.tmp-') &&
        error.message.includes(join(dir, 'results.jsonl')),
    );
    assert.deepEqual(readdirSync(dir), ['results.jsonl'], 'no *.tmp-* file is left');
  });
});

describe('temporaries', () => {
  it('removeTemporaries removes what is registered and still there, files and folders, and forgets them', () => {
    const file = temporaryPathFor(join(root, 'x.json'));
    assert.match(file, /x\.json\.tmp-\d+-\d+-[a-z0-9]+$/);
    const folder = join(root, 'scratch.partial-1');
    mkdirSync(join(folder, 'deep'), { recursive: true });
    trackTemporary(file);
    trackTemporary(folder);
    const forgotten = join(root, 'kept');
    mkdirSync(forgotten);
    trackTemporary(forgotten)();
    assert.deepEqual(removeTemporaries().sort(), [file, folder].sort());
    assert.ok(!existsSync(folder) && existsSync(forgotten));
    assert.deepEqual(removeTemporaries(), []);
  });

  it('withTemporary removes the temporary of a failed asynchronous write and names the target', async () => {
    const dir = join(root, 'async');
    mkdirSync(join(dir, 'model.onnx'), { recursive: true }); // a folder where the file should go
    const target = join(dir, 'model.onnx');
    const temporary = temporaryPathFor(target);
    await assert.rejects(
      withTemporary(
        temporary,
        async () => {
          await writeFile(temporary, 'graph');
          await rename(temporary, target);
        },
        target,
      ),
      (error: NodeJS.ErrnoException) => typeof error.code === 'string' && !error.message.includes('.tmp-'),
    );
    assert.deepEqual(readdirSync(dir), ['model.onnx']);
    assert.deepEqual(removeTemporaries(), [], 'and it is no longer registered');
  });

  it('produceFolderOnce leaves no scratch folder when produce fails', async () => {
    const dir = join(root, 'model');
    await assert.rejects(
      produceFolderOnce(
        dir,
        () => false,
        async () => {
          throw new Error('conversion failed');
        },
      ),
      /conversion failed/,
    );
    assert.deepEqual(
      readdirSync(root).filter((n) => n.startsWith('model')),
      [],
    );
  });
});
