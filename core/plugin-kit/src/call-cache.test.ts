import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CallCache } from './call-cache.js';

describe('CallCache', () => {
  it('stores answers by request, whatever the key order, and shares them between instances', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'expgen-cache-'));
    const a = new CallCache(dir, 'describer/test');
    assert.equal(await a.get({ prompt: 'p', seed: 1 }), undefined);
    await a.put({ prompt: 'p', seed: 1 }, { text: 'answer' });
    const b = new CallCache(dir, 'describer/test');
    assert.deepEqual(await b.get({ seed: 1, prompt: 'p' }), { text: 'answer' });
    assert.equal(await b.get({ seed: 2, prompt: 'p' }), undefined);
    assert.equal(
      await new CallCache(dir, 'simulator/test').get({ prompt: 'p', seed: 1 }),
      undefined,
      'namespaces are apart',
    );
    assert.deepEqual(b.stats, { hits: 1, misses: 1, writes: 0 });
  });

  it('treats a damaged entry as a miss and removes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'expgen-cache-'));
    const cache = new CallCache(dir, 'x');
    await cache.put({ q: 1 }, 'v');
    const key = cache.key({ q: 1 });
    const folder = join(dir, 'calls', 'x', key.slice(0, 2));
    writeFileSync(join(folder, `${key}.json`), '{"request": {"q": 1}, "val');
    assert.equal(await cache.get({ q: 1 }), undefined);
    assert.deepEqual(readdirSync(folder), []);
  });

  it('concurrent writers of the same entry leave one whole entry and no temporary files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'expgen-cache-'));
    const caches = Array.from({ length: 8 }, () => new CallCache(dir, 'x'));
    await Promise.all(caches.map((c, i) => c.put({ q: 'same' }, { writer: i % 1, text: 'same answer' })));
    const folder = join(dir, 'calls', 'x', caches[0]!.key({ q: 'same' }).slice(0, 2));
    assert.equal(readdirSync(folder).length, 1);
    assert.deepEqual(await caches[3]!.get({ q: 'same' }), { writer: 0, text: 'same answer' });
  });
});
