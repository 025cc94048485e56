import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { trackTemporary } from '@expgen/plugin-kit';
import {
  handleInterrupt,
  Interrupt,
  interruptTestHooks,
  onInterrupt,
  setInterruptHint,
  watchInterrupts,
} from './interrupts.js';

const root = mkdtempSync(join(tmpdir(), 'expgen-interrupts-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('handleInterrupt', () => {
  const written: string[] = [];
  const exits: number[] = [];
  let restore = () => {};
  const hooks = () => {
    written.length = 0;
    exits.length = 0;
    restore = interruptTestHooks({
      write: (text) => void written.push(text),
      end: (_signal, code) => void exits.push(code),
    });
  };
  afterEach(() => restore());

  it('runs the cleanups, removes registered temporaries, prints one line and exits 130 on SIGINT', async () => {
    hooks();
    const file = join(root, 'results.jsonl.tmp-1-0-abc');
    const folder = join(root, 'report.partial-1');
    writeFileSync(file, 'half');
    mkdirSync(join(folder, 'features'), { recursive: true });
    trackTemporary(file);
    trackTemporary(folder);
    const order: string[] = [];
    onInterrupt(() => void order.push('first'));
    onInterrupt(async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      order.push('second');
    });
    await handleInterrupt('SIGINT');
    assert.deepEqual(order.sort(), ['first', 'second'], 'every cleanup ran, the asynchronous one awaited');
    assert.ok(!existsSync(file) && !existsSync(folder), 'no temporary is left');
    assert.deepEqual(exits, [130]);
    assert.equal(written.length, 1);
    assert.match(
      written[0]!,
      /^\n?expgen: interrupted by SIGINT; run the same command again to resume where it stopped\n$/,
    );
  });

  it('SIGTERM goes through the same function, exits 143, and says what the command set', async () => {
    hooks();
    setInterruptHint('nothing was imported; run the same command again');
    await handleInterrupt('SIGTERM');
    assert.deepEqual(exits, [143]);
    assert.match(written[0]!, /expgen: interrupted by SIGTERM; nothing was imported; run the same command again\n$/);
  });

  it('a cleanup that throws does not stop the others; a second signal exits at once', async () => {
    hooks();
    let ran = false;
    onInterrupt(() => {
      ran = true;
    });
    onInterrupt(() => {
      throw new Error('broken');
    });
    let release: () => void = () => {};
    onInterrupt(() => new Promise<void>((resolve) => (release = resolve)));
    const first = handleInterrupt('SIGINT');
    assert.ok(ran);
    await handleInterrupt('SIGINT');
    assert.deepEqual(exits, [130], 'the second signal exits without waiting for the cleanups');
    release();
    await first;
    assert.deepEqual(exits, [130, 130]);
  });

  it('an unregistered cleanup does not run', async () => {
    hooks();
    let ran = false;
    const stop = onInterrupt(() => {
      ran = true;
    });
    stop();
    await handleInterrupt('SIGINT');
    assert.equal(ran, false);
  });

  it('during checkpointing work, the signal aborts it, nothing ends the process, and the work ends the run', async () => {
    hooks();
    const interrupts = watchInterrupts();
    let cleaned = false;
    onInterrupt(() => {
      cleaned = true;
    });
    const work = interrupts.checkpointing(
      new Promise<string>((resolve) => {
        interrupts.signal.addEventListener('abort', () => resolve('checkpoint written'));
      }),
      'stage 1 is complete',
    );
    await handleInterrupt('SIGTERM');
    assert.ok(interrupts.signal.reason instanceof Interrupt);
    assert.deepEqual(exits, [], 'no exit while the checkpoint is written');
    assert.equal(cleaned, false, "the command's own finally blocks release what it holds");
    assert.match(written[0]!, /SIGTERM received: saving a checkpoint, then stopping/);
    // The work finished normally after the signal (past its last check): the run still stops, saying so.
    await assert.rejects(work, (error: unknown) => {
      assert.ok(isExpgenError(error));
      assert.equal(error.exitCode, 143);
      assert.equal(
        error.message,
        'interrupted by SIGTERM: stage 1 is complete; run the same command again to resume where it stopped',
      );
      return true;
    });
  });

  it('a second signal during checkpointing work ends the process at once', async () => {
    hooks();
    const interrupts = watchInterrupts();
    void interrupts.checkpointing(new Promise(() => undefined), 'x').catch(() => undefined);
    await handleInterrupt('SIGTERM');
    assert.deepEqual(exits, []);
    await handleInterrupt('SIGINT');
    assert.deepEqual(exits, [130]);
  });
});
