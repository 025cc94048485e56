import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { ActivationDistribution, TAIL_FRACTIONS } from '../state/activation-distribution.js';
import { SequenceStore } from '../state/sequence-store.js';
import { readDistributionFile } from '../storage/distribution-file.js';
import { readExemplarFile, type ExemplarRow } from '../storage/exemplar-file.js';
import { distributionFilePath, exemplarFilePath } from '../storage/layout.js';
import { readExemplarManifest } from '../storage/manifest.js';
import { mergeExemplarOutputs } from '../storage/merge-exemplar-dirs.js';
import { loadLayerSplitState } from '../storage/state-loading.js';
import { importReleasedExemplars, tailQuantileOfSorted } from './import-released.js';
import { NpyFile, parseNpyHeader, parsePythonLiteral } from './npy.js';
import { ReleasedExemplars, readReleasedConfig } from './released-exemplars.js';

const root = mkdtempSync(join(tmpdir(), 'expgen-released-'));
after(() => rmSync(root, { recursive: true, force: true }));

type Descr = '<f4' | '<i4' | '<i8' | '<f8';

/** A minimal numpy .npy writer (C order), in the format version asked for. */
function npy(descr: Descr, shape: readonly number[], values: ArrayLike<number>, version: 1 | 2 | 3 = 1): Buffer {
  const shapeText = `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const prefix = version === 1 ? 10 : 12;
  const total = Math.ceil((prefix + header.length + 1) / 64) * 64;
  header = `${header.padEnd(total - prefix - 1, ' ')}\n`;
  const head = Buffer.alloc(prefix);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(head);
  if (version === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  const size = descr.endsWith('8') ? 8 : 4;
  const data = Buffer.alloc(values.length * size);
  for (let i = 0; i < values.length; i++) {
    if (descr === '<f4') data.writeFloatLE(values[i]!, i * 4);
    else if (descr === '<i4') data.writeInt32LE(values[i]!, i * 4);
    else if (descr === '<f8') data.writeDoubleLE(values[i]!, i * 8);
    else data.writeBigInt64LE(BigInt(values[i]!), i * 8);
  }
  return Buffer.concat([head, Buffer.from(header, 'latin1'), data]);
}

const NEURONS = 5;
const K = 3;
const SEQ_LEN = 6;
const KEPT = 4;
const RANDOM = 2;
const PAD_ID = 128009;
const DATASETS = ['lmsys-chat-1m', 'fineweb'];

function value(...parts: number[]): number {
  let h = 2166136261;
  for (const p of parts) h = Math.imul(h ^ p, 16777619) >>> 0;
  return h;
}

interface Made {
  rows: Map<string, ExemplarRow[]>; // `${layer}/${split}/${neuron}` -> rows in file order
  maxExtremes: Map<string, Float32Array>;
  minExtremes: Map<string, Float32Array>;
}

/**
 * Writes a released-layout dump with layers 2 and 7; returns the rows a correct reader must return. Real tokens
 * include the pad id (so padding must be found from the activations), one sequence is all padding, and the files
 * use every .npy version and an int64 id file.
 */
function makeDump(dir: string): Made {
  const made: Made = { rows: new Map(), maxExtremes: new Map(), minExtremes: new Map() };
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'exemplar_config.json'),
    JSON.stringify({
      hf_model_id: 'meta-llama/Llama-3.1-8B-Instruct',
      hf_dataset_configs: [
        { hf_dataset_id: 'lmsys/lmsys-chat-1m' },
        { hf_dataset_id: 'HuggingFaceFW/fineweb', dataset_config_name: 'sample-10BT' },
      ],
      seq_len: SEQ_LEN,
      k: K,
      num_top_acts_to_save: KEPT,
      rand_seqs: RANDOM,
      seed: 64,
      activation_type: 'MLP',
    }),
  );
  const sortedNames = [...DATASETS].sort();
  for (const layer of [2, 7]) {
    for (const split of ['train', 'valid', 'test']) {
      const sets: [string, 'max' | 'min', number, 'positive' | 'negative' | 'random'][] = [
        [split, 'max', K, 'positive'],
        [split, 'min', K, 'negative'],
        [`random_${split}`, 'max', RANDOM, 'random'],
        [`random_${split}`, 'min', RANDOM, 'random'],
      ];
      for (const [folder, prefix, count, sign] of sets) {
        const acts = new Float32Array(NEURONS * count * SEQ_LEN);
        const ids = new Int32Array(NEURONS * count * SEQ_LEN);
        const datasetIds = new Int32Array(NEURONS * count);
        const padding = prefix === 'max' ? -Infinity : Infinity;
        for (let n = 0; n < NEURONS; n++) {
          const key = `${layer}/${split}/${n}`;
          const rows = made.rows.get(key) ?? [];
          for (let r = 0; r < count; r++) {
            const seed = value(layer, split.length, folder.length, prefix.length, n, r);
            const length = n === 3 && r === 1 && sign === 'positive' ? 0 : 1 + (seed % SEQ_LEN);
            const base = (n * count + r) * SEQ_LEN;
            const tokens: number[] = [];
            const values: number[] = [];
            for (let t = 0; t < SEQ_LEN; t++) {
              const real = t >= SEQ_LEN - length;
              const token = real ? (t === SEQ_LEN - 1 ? PAD_ID : value(seed, t) % 128000) : PAD_ID;
              // Quarter steps, offset so max ranks above min: exact in float32.
              const v = real ? ((value(seed, t, 1) % 33) - 16) / 4 + (prefix === 'max' ? 4 - r : -4 + r) : padding;
              ids[base + t] = token;
              acts[base + t] = v;
              if (real) {
                tokens.push(token);
                values.push(v);
              }
            }
            datasetIds[n * count + r] = seed % 2;
            if (folder.startsWith('random_') && prefix === 'min') continue; // random rows come from max_*
            rows.push({
              feature: n,
              sign,
              rank: r,
              activation: values.length === 0 ? padding : prefix === 'max' ? Math.max(...values) : Math.min(...values),
              sequence: null,
              dataset: sortedNames[seed % 2]!,
              document: null,
              window: null,
              countFrom: 0,
              tokens: Int32Array.from(tokens),
              activations: Float32Array.from(values),
            });
          }
          made.rows.set(key, rows);
        }
        const out = join(dir, folder, `layer${layer}`);
        mkdirSync(out, { recursive: true });
        const version = ((layer + split.length) % 3) + 1;
        writeFileSync(
          join(out, `${prefix}_seq_acts.npy`),
          npy('<f4', [NEURONS, count, SEQ_LEN], acts, version as 1 | 2 | 3),
        );
        writeFileSync(
          join(out, `${prefix}_seq_ids.npy`),
          npy(layer === 7 ? '<i8' : '<i4', [NEURONS, count, SEQ_LEN], ids),
        );
        writeFileSync(join(out, `${prefix}_dataset_ids.npy`), npy('<i4', [NEURONS, count], datasetIds, 2));
        if (!folder.startsWith('random_')) {
          const extremes = new Float32Array(NEURONS * KEPT);
          for (let n = 0; n < NEURONS; n++) {
            const kept = Array.from(
              { length: KEPT },
              (_, i) => ((value(layer, n, i, prefix.length) % 41) - 20) / 8,
            ).sort((a, b) => (prefix === 'max' ? b - a : a - b));
            extremes.set(kept, n * KEPT);
            (prefix === 'max' ? made.maxExtremes : made.minExtremes).set(
              `${layer}/${split}/${n}`,
              Float32Array.from(kept),
            );
          }
          writeFileSync(
            join(out, `${prefix}_acts.npy`),
            npy(layer === 7 ? '<f8' : '<f4', [NEURONS, KEPT], extremes, 3),
          );
        }
      }
      if (split === 'valid')
        writeFileSync(join(dir, split, `layer${layer}`, 'num_tokens_seen.txt'), `${20_000 + layer}\n`);
    }
  }
  return made;
}

const dump = join(root, 'dump');
const made = makeDump(dump);

function expectedRows(layer: number, split: string, from = 0, to = NEURONS): ExemplarRow[] {
  return Array.from({ length: to - from }, (_, i) => made.rows.get(`${layer}/${split}/${from + i}`)!).flat();
}

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

describe('importReleasedExemplars', () => {
  const out = join(root, 'imported');
  const manifest = importReleasedExemplars(dump, out, [2, 7], { chunk: 2 });

  it('writes expgen files holding the same rows, and a manifest marked imported', async () => {
    assert.deepEqual(readExemplarManifest(out), manifest);
    assert.deepEqual(manifest.imported, { from: 'transluce-released', modelId: 'meta-llama/Llama-3.1-8B-Instruct' });
    assert.deepEqual(manifest.layers, [
      { space: 'mlp', layer: 2, features: NEURONS },
      { space: 'mlp', layer: 7, features: NEURONS },
    ]);
    assert.deepEqual(manifest.splits, {
      test: { sequencesSeen: null, tokensSeen: null },
      train: { sequencesSeen: null, tokensSeen: null },
      valid: { sequencesSeen: null, tokensSeen: null },
    });
    for (const layer of [2, 7]) {
      for (const split of ['train', 'valid', 'test']) {
        const file = await readExemplarFile(exemplarFilePath(out, { space: 'mlp', layer, split }));
        assert.equal(file.configHash, manifest.configHash);
        assert.deepEqual(file.rows, expectedRows(layer, split));
      }
    }
  });

  it('writes the extremes, and the tail quantiles where the tokens seen are known', async () => {
    const train = await readDistributionFile(distributionFilePath(out, { space: 'mlp', layer: 2, split: 'train' }));
    assert.deepEqual(
      train.rows.map((r) => r.maxExtremes),
      Array.from({ length: NEURONS }, (_, n) => made.maxExtremes.get(`2/train/${n}`)),
    );
    assert.ok(
      train.rows.every(
        (r) => r.tokensSeen === null && r.histogram === null && r.positiveQuantiles.every((q) => q === null),
      ),
    );
    const valid = await readDistributionFile(distributionFilePath(out, { space: 'mlp', layer: 7, split: 'valid' }));
    const row = valid.rows[1]!;
    assert.equal(row.tokensSeen, 20_007);
    assert.deepEqual(row.minExtremes, made.minExtremes.get('7/valid/1'));
    assert.deepEqual(
      row.positiveQuantiles,
      TAIL_FRACTIONS.map((q) => tailQuantileOfSorted(row.maxExtremes, 20_007, q, 'positive')),
    );
    assert.ok(row.positiveQuantiles[0] !== null, 'q = 1e-4 of 20,007 tokens is within the 4 kept extremes');
  });

  it('cannot be loaded into state or merged, and says why', async () => {
    await assert.rejects(
      loadLayerSplitState(
        out,
        manifest,
        { space: 'mlp', layer: 2, split: 'train' },
        new SequenceStore({ seqLen: SEQ_LEN }),
      ),
      /was imported from a released dump/,
    );
    await assert.rejects(mergeExemplarOutputs([out], join(root, 'merged')), /was imported from a released dump/);
  });

  it('imports the same bytes twice', () => {
    const again = join(root, 'imported-again');
    importReleasedExemplars(dump, again, [2, 7]);
    for (const layer of [2, 7]) {
      const key = { space: 'mlp', layer, split: 'valid' };
      assert.deepEqual(readFileSync(exemplarFilePath(again, key)), readFileSync(exemplarFilePath(out, key)));
      assert.deepEqual(readFileSync(distributionFilePath(again, key)), readFileSync(distributionFilePath(out, key)));
    }
  });
});

describe('tailQuantileOfSorted', () => {
  it('agrees with ActivationDistribution.tailQuantile', () => {
    const features = 3;
    const distribution = new ActivationDistribution({ features, keep: 50, histogram: { low: -1, high: 1, bins: 4 } });
    const rows = 400;
    const max = Float32Array.from({ length: rows * features }, (_, i) => ((value(i, 1) % 1000) - 300) / 97);
    const min = Float32Array.from({ length: rows * features }, (_, i) => ((value(i, 2) % 1000) - 700) / 97);
    distribution.offer({ max, min, tokens: 250_000 });
    for (let f = 0; f < features; f++) {
      for (const sign of ['positive', 'negative'] as const) {
        for (const q of [...TAIL_FRACTIONS, 1e-3, 3e-5]) {
          assert.equal(
            tailQuantileOfSorted(distribution.sortedExtremes(f, sign), distribution.tokensSeen, q, sign),
            distribution.tailQuantile(f, q, sign),
            `${f} ${sign} ${q}`,
          );
        }
      }
    }
  });
});
