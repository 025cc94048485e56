import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileSystemErrorLine, inFolder, targetOf } from './file-system-errors.js';

const errno = (code: string, syscall: string, path: string, dest?: string) =>
  Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path, ...(dest ? { dest } : {}) });

describe('fileSystemErrorLine', () => {
  it('names the file the user asked for, what went wrong and what to do', () => {
    assert.equal(
      fileSystemErrorLine(errno('ENOSPC', 'write', '/runs/a/results.jsonl.tmp-4242-0-x1y2z3')),
      'cannot write /runs/a/results.jsonl: no space left on the device (ENOSPC); free some space (or choose a folder on another disk), then run the same command again to resume',
    );
    assert.equal(
      fileSystemErrorLine(errno('EACCES', 'open', '/runs/a/expgen-manifest.json.tmp-7-3-abcdef')),
      'cannot open /runs/a/expgen-manifest.json: permission denied (EACCES); choose a folder you can write (--out), or change its permissions',
    );
    assert.equal(
      fileSystemErrorLine(errno('ENOTDIR', 'mkdir', '/runs/file/sub')),
      'cannot create the folder /runs/file/sub: a part of this path is a file, not a folder (ENOTDIR); choose another path, or move that file away',
    );
    assert.match(
      fileSystemErrorLine(errno('EROFS', 'rename', '/ro/x.tmp-1-0-a', '/ro/x'))!,
      /^cannot write \/ro\/x: the file system is read-only \(EROFS\)/,
    );
    assert.match(
      fileSystemErrorLine(errno('EACCES', 'open', '/runs/a/expgen.lock.tmp-1-0-a'), {
        verb: 'cannot write in',
        path: '/runs/a',
      })!,
      /^cannot write in \/runs\/a: permission denied/,
    );
  });

  it('a write to a descriptor names no path: the run folder is named instead', () => {
    const pathless = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    assert.match(fileSystemErrorLine(inFolder(pathless, '/runs/a'))!, /^cannot write \/runs\/a: no space left/);
    const named = errno('ENOSPC', 'write', '/runs/a/x.arrow');
    assert.match(fileSystemErrorLine(inFolder(named, '/runs/a'))!, /^cannot write \/runs\/a\/x\.arrow:/);
    const other = new Error('not a file-system error');
    assert.equal(inFolder(other, '/runs/a'), other);
  });

  it('is null for what is not a file-system error', () => {
    assert.equal(fileSystemErrorLine(new Error('boom')), null);
    assert.equal(fileSystemErrorLine(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), null);
    assert.equal(fileSystemErrorLine(undefined), null);
  });

  it('shows temporary names as what they stand for, inside paths too', () => {
    assert.equal(targetOf('/a/checkpoint.tmp-12/train.state'), '/a/checkpoint/train.state');
    assert.equal(targetOf('/a/model.partial-12-k3j4'), '/a/model');
    assert.equal(targetOf('/a/plain.arrow'), '/a/plain.arrow');
  });
});
