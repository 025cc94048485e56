import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { K, KEPT, NEURONS, PAD_ID, RANDOM, SEQ_LEN, makeDump, rowsOf, npy } from './released-dump.test-util.js';
import { NpyFile, parseNpyHeader, parsePythonLiteral } from './npy.js';
import { ReleasedExemplars, readReleasedConfig } from './released-exemplars.js';

const root = mkdtempSync(join(tmpdir(), 'expgen-released-'));
after(() => rmSync(root, { recursive: true, force: true }));

const dump = join(root, 'dump');
const made = makeDump(dump);

const expectedRows = (layer: number, split: string, from?: number, to?: number) => rowsOf(made, layer, split, from, to);

describe('numpy headers', () => {
  it('parses versions 1, 2 and 3, and the Python literals numpy writes', () => {
    for (const version of [1, 2, 3] as const) {
      const header = parseNpyHeader('x.npy', npy('<f4', [3, 2], [1, 2, 3, 4, 5, 6], version));
      assert.deepEqual(header.shape, [3, 2]);
      assert.equal(header.dtype, 'f4');
      assert.equal(header.dataOffset % 64, 0);
    }
    assert.deepEqual(parsePythonLiteral("{'descr': '<i8', 'fortran_order': False, 'shape': (7,), }"), {
      descr: '<i8',
      fortran_order: false,
      shape: [7],
    });
    assert.deepEqual(parsePythonLiteral("{\"a\": (), 'b': [1, -2], 'c': None, 'd': True}"), {
      a: [],
      b: [1, -2],
      c: null,
      d: true,
    });
  });

  it('refuses what it cannot read, naming the file', () => {
    const fortran = Buffer.from(
      npy('<f4', [2], [1, 2]).toString('latin1').replace("'fortran_order': False", "'fortran_order': True "),
      'latin1',
    );
    assert.throws(() => parseNpyHeader('f.npy', fortran), /f\.npy .*Fortran order/);
    const bigEndian = Buffer.from(npy('<f4', [2], [1, 2]).toString('latin1').replace("'<f4'", "'>f4'"), 'latin1');
    assert.throws(() => parseNpyHeader('b.npy', bigEndian), /b\.npy .*dtype >f4 is not supported/);
    assert.throws(
      () => parseNpyHeader('p.npy', Buffer.from('version https://git-lfs.github.com/spec/v1\n')),
      /p\.npy is not a readable \.npy file/,
    );
    const cut = join(root, 'cut.npy');
    writeFileSync(cut, npy('<f4', [100, 10], new Float32Array(1000)).subarray(0, 300));
    assert.throws(
      () => new NpyFile(cut),
      (error: Error) => isExpgenError(error) && error.message.includes(cut) && /cut short/.test(error.message),
    );
  });

  it('reads rows by offset, converting int64 and float64', () => {
    const path = join(root, 'rows.npy');
    writeFileSync(path, npy('<i8', [4, 3], [0, 1, 2, 3, 4, 5, -6, 7, 8, 9, 10, 2147483647]));
    const file = new NpyFile(path);
    try {
      assert.deepEqual(file.readRows(1, 3), Int32Array.of(3, 4, 5, -6, 7, 8));
      assert.deepEqual(file.readRows(3, 4), Int32Array.of(9, 10, 2147483647));
      assert.deepEqual(file.readRows(2, 2), new Int32Array(0));
    } finally {
      file.close();
    }
  });
});

describe('ReleasedExemplars', () => {
  it('reads the config: sorted dataset names, sizes, a hash of the file', () => {
    const config = readReleasedConfig(dump);
    assert.deepEqual(config.datasetNames, ['fineweb', 'lmsys-chat-1m']);
    assert.equal(config.k, K);
    assert.equal(config.seqLen, SEQ_LEN);
    assert.equal(config.extremesKept, KEPT);
    assert.equal(config.randomSequences, RANDOM);
    assert.equal(config.modelId, 'meta-llama/Llama-3.1-8B-Instruct');
    assert.match(config.hash, /^sha256:[0-9a-f]{64}$/);
  });

  it('returns exactly the rows in the arrays: padding stripped by activation, the extreme, the dataset name', () => {
    const released = ReleasedExemplars.open(dump);
    assert.deepEqual(released.layers(), [2, 7]);
    assert.equal(released.neurons(2), NEURONS);
    for (const layer of [2, 7]) {
      for (const split of ['train', 'valid', 'test'] as const) {
        assert.deepEqual([...released.rows(layer, split)], expectedRows(layer, split));
        assert.deepEqual([...released.rows(layer, split, { chunk: 2 })], expectedRows(layer, split));
      }
    }
    assert.deepEqual([...released.rows(7, 'valid', { from: 1, to: 4, chunk: 2 })], expectedRows(7, 'valid', 1, 4));
    const empty = [...released.rows(2, 'train')].find(
      (row) => row.feature === 3 && row.sign === 'positive' && row.rank === 1,
    )!;
    assert.equal(empty.tokens.length, 0);
    assert.equal(empty.activation, -Infinity);
    // A real token equal to the pad id is kept (it is the last token of every sequence here).
    assert.ok(
      [...released.rows(2, 'train')].every(
        (row) => row.tokens.length === 0 || row.tokens[row.tokens.length - 1] === PAD_ID,
      ),
    );
  });

  it('returns the extremes and the tokens seen where the dump has them', () => {
    const released = ReleasedExemplars.open(dump);
    const neurons = [...released.neuronsOf(7, 'train', { chunk: 3 })];
    neurons.forEach((neuron) => {
      assert.deepEqual(neuron.maxExtremes, made.maxExtremes.get(`7/train/${neuron.neuron}`));
      assert.deepEqual(neuron.minExtremes, made.minExtremes.get(`7/train/${neuron.neuron}`));
    });
    assert.equal(released.tokensSeen(7, 'valid'), 20_007);
    assert.equal(released.tokensSeen(7, 'train'), null);
  });

  it('reports missing folders and mismatched shapes with the path', () => {
    const released = ReleasedExemplars.open(dump);
    assert.throws(() => [...released.rows(9, 'train')], /has no train\/layer9 folder/);
    assert.throws(() => ReleasedExemplars.open(join(root, 'nothing')), /is not a released exemplar dump/);
    const other = join(root, 'bad-dump');
    makeDump(other);
    writeFileSync(
      join(other, 'train', 'layer2', 'max_seq_ids.npy'),
      npy('<i4', [NEURONS, K, SEQ_LEN - 1], new Int32Array(NEURONS * K * (SEQ_LEN - 1))),
    );
    assert.throws(
      () => [...ReleasedExemplars.open(other).rows(2, 'train')],
      (error: Error) =>
        isExpgenError(error) &&
        error.message.includes(join('train', 'layer2', 'max_seq_ids.npy')) &&
        /expected \[5,3,6\]/.test(error.message),
    );
  });
});
