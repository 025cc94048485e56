import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExemplarRow } from '../storage/exemplar-file.js';

/** A released-layout dump written by the tests (numpy files as the reference's code saves them), and what it holds. */

export type Descr = '<f4' | '<i4' | '<i8' | '<f8';

/** A minimal numpy .npy writer (C order), in the format version asked for. */
export function npy(descr: Descr, shape: readonly number[], values: ArrayLike<number>, version: 1 | 2 | 3 = 1): Buffer {
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

export const NEURONS = 5;
export const K = 3;
export const SEQ_LEN = 6;
export const KEPT = 4;
export const RANDOM = 2;
export const PAD_ID = 128009;
export const DATASETS = ['lmsys-chat-1m', 'fineweb'];

export function value(...parts: number[]): number {
  let h = 2166136261;
  for (const p of parts) h = Math.imul(h ^ p, 16777619) >>> 0;
  return h;
}

export interface Made {
  rows: Map<string, ExemplarRow[]>; // `${layer}/${split}/${neuron}` -> rows in file order
  maxExtremes: Map<string, Float32Array>;
  minExtremes: Map<string, Float32Array>;
}

/**
 * Writes a released-layout dump with layers 2 and 7; returns the rows a correct reader must return. Real tokens
 * include the pad id (so padding must be found from the activations), one sequence is all padding, and the files
 * use every .npy version and an int64 id file.
 */
export function makeDump(dir: string): Made {
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

/** The rows a correct reader returns for neurons `from` to `to` of a layer and split, in file order. */
export function rowsOf(made: Made, layer: number, split: string, from = 0, to = NEURONS): ExemplarRow[] {
  return Array.from({ length: to - from }, (_, i) => made.rows.get(`${layer}/${split}/${from + i}`)!).flat();
}
