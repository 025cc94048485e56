import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { Interrupt, watchInterrupts } from './interrupts.js';

/** A stand-in for `process`: signals are emitted by the test; exits and lines are recorded, not performed. */
function fakeProcess() {
  const target = new EventEmitter();
  const lines: string[] = [];
  const exits: number[] = [];
  const interrupts = watchInterrupts({
    target: target as unknown as Pick<NodeJS.Process, 'on' | 'off'>,
    write: (line) => lines.push(line),
    exit: (code) => exits.push(code),
  });
  return { target, lines, exits, interrupts };
}

describe('SIGTERM and SIGINT', () => {
  it('outside checkpointing work, the first signal prints one resume line and exits with 128 + its number', () => {
    for (const [name, code] of [
      ['SIGTERM', 143],
      ['SIGINT', 130],
    ] as const) {
      const { target, lines, exits, interrupts } = fakeProcess();
      target.emit(name);
      assert.deepEqual(exits, [code]);
      assert.deepEqual(lines, [
        `expgen: stopped by ${name}: every finished item is kept; run the same command to resume`,
      ]);
      assert.ok(interrupts.signal.reason instanceof Interrupt);
      interrupts.dispose();
      assert.equal(target.listenerCount(name), 0, 'dispose removes the handlers');
    }
  });

  it('during checkpointing work, the signal aborts it, and the work ends the run with its own line', async () => {
    const { target, lines, exits, interrupts } = fakeProcess();
    const work = interrupts.checkpointing(
      new Promise<string>((resolve) => {
        interrupts.signal.addEventListener('abort', () => resolve('checkpoint written'));
      }),
      'stage 1 is complete',
    );
    target.emit('SIGTERM');
    assert.deepEqual(exits, [], 'no exit while the checkpoint is written');
    assert.match(lines[0]!, /SIGTERM received: saving a checkpoint, then stopping/);
    // The work finished normally after the signal (past its last check): the run still stops, saying so.
    await assert.rejects(work, (error: unknown) => {
      assert.ok(isExpgenError(error));
      assert.equal(error.exitCode, 143);
      assert.equal(error.message, 'stopped by SIGTERM: stage 1 is complete; run the same command to resume');
      return true;
    });
    interrupts.dispose();
  });

  it('a second signal exits at once', () => {
    const { target, exits, interrupts } = fakeProcess();
    void interrupts.checkpointing(new Promise(() => undefined), 'x').catch(() => undefined);
    target.emit('SIGTERM');
    assert.deepEqual(exits, []);
    target.emit('SIGINT');
    assert.deepEqual(exits, [130]);
    interrupts.dispose();
  });
});
