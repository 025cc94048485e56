import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Semaphore } from './semaphore.js';

describe('Semaphore', () => {
  it('admits `limit` holders and serves waiters in arrival order', async () => {
    const semaphore = new Semaphore(2);
    const order: number[] = [];
    const a = await semaphore.acquire();
    const b = await semaphore.acquire();
    const waiting = [1, 2, 3].map((i) => semaphore.acquire().then((release) => (order.push(i), release)));
    assert.equal(semaphore.held, 2);
    a();
    a(); // a second release of the same slot is ignored
    const first = await waiting[0]!;
    b();
    first();
    (await waiting[1]!)();
    (await waiting[2]!)();
    assert.deepEqual(order, [1, 2, 3]);
    assert.equal(semaphore.held, 0);
  });

  it('a waiter whose signal aborts leaves the queue', async () => {
    const semaphore = new Semaphore(1);
    const release = await semaphore.acquire();
    const controller = new AbortController();
    const aborted = semaphore.acquire(controller.signal);
    const next = semaphore.acquire();
    controller.abort(new Error('cancelled'));
    await assert.rejects(aborted, /cancelled/);
    release();
    (await next)();
    assert.equal(semaphore.held, 0);
  });
});
