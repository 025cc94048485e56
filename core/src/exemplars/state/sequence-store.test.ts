import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SequenceStore, type SequenceContent } from './sequence-store.js';
import { IdSlotIndex } from './id-slot-index.js';
import { concatChunks } from './state-codec.js';

const SEQ_LEN = 3;

function content(id: number, split = 'train'): SequenceContent {
  return { tokens: [id, id + 1, id + 2], length: 2, datasetIndex: id % 2, documentId: `döc-${id}`, split };
}

function bytes(store: SequenceStore): Uint8Array {
  return concatChunks(store.toBuffers());
}

describe('SequenceStore', () => {
  it('stores a referenced sequence once and frees it with its last reference', () => {
    const store = new SequenceStore({ seqLen: SEQ_LEN });
    assert.equal(store.put(7, content(7)), false, 'unreferenced content is not kept');
    store.retain(7);
    store.retain(7);
    assert.equal(store.has(7), false);
    assert.deepEqual(store.missing(), [7]);
    assert.equal(store.put(7, content(7, 'valid')), true);
    assert.deepEqual(store.get(7), {
      sequenceId: 7,
      tokens: Int32Array.of(7, 8, 9),
      length: 2,
      datasetIndex: 1,
      documentId: 'döc-7',
      split: 'valid',
    });
    assert.throws(() => store.put(7, { ...content(7, 'valid'), window: 3 }), /given twice with different content/);
    store.retain(8);
    store.put(8, { ...content(8), window: 2, countFrom: 1 });
    assert.deepEqual([store.get(8)?.window, store.get(8)?.countFrom], [2, 1]);
    assert.throws(() => {
      store.retain(9);
      store.put(9, { ...content(9), countFrom: 4 });
    }, /countFrom 4, outside \[0, 3\]/);
    assert.equal(store.put(7, content(7, 'valid')), true, 'the same content again is fine');
    assert.throws(() => store.put(7, content(8)), /given twice with different content/);
    store.release(7);
    assert.equal(store.references(7), 1);
    store.release(7);
    store.release(8);
    store.release(9);
    assert.equal(store.size, 0);
    assert.equal(store.get(7), undefined);
    assert.throws(() => store.release(7), /unbalanced/);
  });

  it('grows past its initial capacity and reuses freed slots', () => {
    const store = new SequenceStore({ seqLen: SEQ_LEN, initialCapacity: 2 });
    for (let id = 0; id < 50; id++) {
      store.retain(id);
      store.put(id, content(id));
    }
    for (let id = 0; id < 50; id += 2) store.release(id);
    for (let id = 100; id < 110; id++) store.retain(id);
    assert.equal(store.size, 35);
    for (let id = 1; id < 50; id += 2) assert.deepEqual(Array.from(store.get(id)!.tokens), [id, id + 1, id + 2]);
    assert.deepEqual(
      store.missing(),
      Array.from({ length: 10 }, (_, i) => 100 + i),
    );
  });

  it('fills content another store holds (after merging shards)', () => {
    const shard = new SequenceStore({ seqLen: SEQ_LEN });
    shard.retain(5);
    shard.put(5, content(5));
    const main = new SequenceStore({ seqLen: SEQ_LEN });
    main.retain(5);
    main.retain(6);
    assert.equal(main.fillFrom(shard), 1);
    assert.equal(main.get(5)?.documentId, 'döc-5');
    assert.deepEqual(main.missing(), [6]);
  });

  it('restores byte-exactly; restore + more changes equals the uninterrupted store', () => {
    const run = (store: SequenceStore, from: number, to: number) => {
      for (let id = from; id < to; id++) {
        store.retain(id);
        store.put(id, {
          ...content(id, id % 3 === 0 ? 'test' : 'train'),
          ...(id % 2 === 0 ? { window: id % 5, countFrom: 1 } : {}),
        });
        if (id % 4 === 1) store.release(id - 1);
      }
    };
    const whole = new SequenceStore({ seqLen: SEQ_LEN, initialCapacity: 4 });
    run(whole, 0, 40);
    const first = new SequenceStore({ seqLen: SEQ_LEN, initialCapacity: 4 });
    run(first, 0, 17);
    const checkpoint = bytes(first);
    const restored = SequenceStore.fromBuffers(checkpoint);
    assert.deepEqual(bytes(restored), checkpoint);
    assert.deepEqual(restored.get(15), first.get(15));
    assert.deepEqual(restored.get(16), first.get(16));
    assert.equal(restored.get(16)?.window, 1);
    run(restored, 17, 40);
    assert.deepEqual(bytes(restored), bytes(whole));
  });
});

describe('IdSlotIndex', () => {
  it('behaves like a Map under random adds and deletes, including ids past 2^32', () => {
    let seed = 1;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
    const index = new IdSlotIndex(4);
    const map = new Map<number, number>();
    for (let step = 0; step < 20_000; step++) {
      const id = Math.floor(random() * 3000) * (step % 2 === 0 ? 1 : 2 ** 33 + 7);
      if (map.has(id)) {
        assert.equal(index.get(id), map.get(id));
        if (random() < 0.6) {
          assert.equal(index.delete(id), true);
          map.delete(id);
        }
      } else {
        assert.equal(index.get(id), -1);
        index.add(id, step);
        map.set(id, step);
      }
    }
    assert.equal(index.size, map.size);
    for (const [id, slot] of map) assert.equal(index.get(id), slot);
    assert.equal(index.delete(-5), false);
  });
});
