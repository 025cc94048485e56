import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import type { ExemplarRow } from '../storage/exemplar-file.js';
import { NpyFile } from './npy.js';

/**
 * Reads the exemplar dumps Transluce released for Llama-3.1-8B-Instruct ("Scaling Automatic Neuron Description")
 * and returns expgen's exemplar rows.
 *
 * Layout of a dump (numpy .npy files, C order, float32 / int32):
 *   exemplar_config.json                        the ExemplarConfig it was made with (seq_len, k, datasets, ...)
 *   {split}/layer{L}/max_acts.npy, min_acts.npy [neurons, <= num_top_acts_to_save] per-sequence maxima (sorted
 *                                               descending) / minima (ascending): the tail-quantile extremes
 *   {split}/layer{L}/max_seq_acts.npy           [neurons, k, seq_len] per-token activations of the top-k
 *                                               sequences, best first; left padding holds -inf (min_*: +inf)
 *   {split}/layer{L}/max_seq_ids.npy            [neurons, k, seq_len] their token ids, left-padded
 *   {split}/layer{L}/max_dataset_ids.npy        [neurons, k] index into the sorted dataset names
 *   {split}/layer{L}/num_tokens_seen.txt        tokens the extremes were taken over (missing in the public copy)
 *   random_{split}/layer{L}/max_seq_*.npy       the same for the split's random sequences (no *_acts.npy)
 * for split in train, valid, test.
 *
 * Padding is found from the activations (the leading -inf of max_*, +inf of min_*), not from a pad token id,
 * because the pad id (Llama's is <|eot_id|>) also occurs as a real token. A row's `activation` is its maximum
 * (minimum) over the unpadded positions: the value the reference ranked by, since it counted every real token.
 * Released rows have no sequence id, document id or window (null), and count from position 0. Random rows come from the max_* arrays of the
 * random split (its min_* arrays hold the same sequences padded with +inf).
 *
 * Arrays are read by offset, `chunk` neurons at a time, so memory is a few chunks whatever the dump's size.
 */
export const RELEASED_SPLITS = ['train', 'valid', 'test'] as const;
export type ReleasedSplit = (typeof RELEASED_SPLITS)[number];

/** The reference's default datasets (ExemplarConfig.hf_dataset_configs): their names are the ids' last parts. */
const DEFAULT_DATASETS = ['HuggingFaceFW/fineweb', 'lmsys/lmsys-chat-1m'];

export interface ReleasedConfig {
  readonly modelId: string | null;
  readonly seqLen: number;
  readonly k: number;
  /** num_top_acts_to_save: extremes kept per neuron and sign. */
  readonly extremesKept: number;
  /** rand_seqs (null when the config does not say). */
  readonly randomSequences: number | null;
  readonly seed: number | null;
  /** Sorted dataset names (the last part of each hf_dataset_id): dataset ids index this list. */
  readonly datasetNames: readonly string[];
  /** `sha256:<hex>` of exemplar_config.json's bytes: the import's config hash. */
  readonly hash: string;
  readonly raw: Readonly<Record<string, unknown>>;
}

/** One neuron of one split: its rows (positive, negative, random, each in rank order) and its extremes. */
export interface ReleasedNeuron {
  readonly neuron: number;
  readonly positive: ExemplarRow[];
  readonly negative: ExemplarRow[];
  readonly random: ExemplarRow[];
  /** Per-sequence maxima kept for the tail quantiles, as stored (largest first in the reference's dumps). */
  readonly maxExtremes: Float32Array;
  /** Per-sequence minima, smallest first. */
  readonly minExtremes: Float32Array;
}

export function readReleasedConfig(root: string, options: { datasetNames?: readonly string[] } = {}): ReleasedConfig {
  const path = join(root, 'exemplar_config.json');
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new ExpgenError(
      `${root} is not a released exemplar dump: ${path} cannot be read (${(error as Error).message})`,
      { cause: error },
    );
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('not an object');
  } catch (error) {
    throw new ExpgenError(`${path} is not a JSON object (${(error as Error).message})`, { cause: error });
  }
  const integer = (key: string, fallback?: number): number => {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
      throw new ExpgenError(`${path}: "${key}" must be a positive integer, got ${JSON.stringify(value)}`);
    return value;
  };
  let datasetNames: string[];
  if (options.datasetNames) {
    datasetNames = [...options.datasetNames];
  } else {
    const configs = raw['hf_dataset_configs'];
    const ids =
      configs === undefined
        ? DEFAULT_DATASETS
        : Array.isArray(configs)
          ? configs.map((c) => (c as Record<string, unknown> | null)?.['hf_dataset_id'])
          : [];
    if (ids.length === 0 || !ids.every((id): id is string => typeof id === 'string')) {
      throw new ExpgenError(`${path}: "hf_dataset_configs" must be a list of objects with "hf_dataset_id"`);
    }
    datasetNames = ids.map((id) => id.split('/').pop()!);
  }
  datasetNames.sort();
  const modelId = typeof raw['hf_model_id'] === 'string' ? raw['hf_model_id'] : null;
  const randomSequences = typeof raw['rand_seqs'] === 'number' ? raw['rand_seqs'] : null;
  return {
    modelId,
    seqLen: integer('seq_len'),
    k: integer('k'),
    extremesKept: integer('num_top_acts_to_save', 10_000),
    randomSequences,
    seed: typeof raw['seed'] === 'number' ? raw['seed'] : null,
    datasetNames,
    hash: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    raw,
  };
}

interface SignArrays {
  readonly seqActs: NpyFile;
  readonly seqIds: NpyFile;
  readonly datasetIds: NpyFile;
  readonly extremes?: NpyFile;
}

/** A released dump, opened for reading per (layer, split), a chunk of neurons at a time. */
export class ReleasedExemplars {
  readonly config: ReleasedConfig;

  private constructor(
    readonly root: string,
    config: ReleasedConfig,
  ) {
    this.config = config;
  }

  static open(root: string, options: { datasetNames?: readonly string[] } = {}): ReleasedExemplars {
    return new ReleasedExemplars(root, readReleasedConfig(root, options));
  }

  /** Layers that have a folder in `split` (default train), ascending. */
  layers(split: ReleasedSplit = 'train'): number[] {
    const dir = join(this.root, split);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .map((name) => /^layer(\d+)$/.exec(name))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => Number(match[1]))
      .sort((a, b) => a - b);
  }

  /** Whether (layer, split) is present (its max_seq_acts.npy exists). */
  has(layer: number, split: ReleasedSplit): boolean {
    return existsSync(join(this.layerDir(layer, split), 'max_seq_acts.npy'));
  }

  /** Neurons of a layer (the first axis of the split's max_seq_acts.npy). */
  neurons(layer: number, split: ReleasedSplit = 'train'): number {
    const file = new NpyFile(join(this.layerDir(layer, split), 'max_seq_acts.npy'));
    try {
      return file.shape[0] ?? 0;
    } finally {
      file.close();
    }
  }

  /** `num_tokens_seen.txt` of (layer, split), or null where the dump lacks it (as the public copy does). */
  tokensSeen(layer: number, split: ReleasedSplit): number | null {
    const path = join(this.layerDir(layer, split), 'num_tokens_seen.txt');
    if (!existsSync(path)) return null;
    const text = readFileSync(path, 'utf8').trim();
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)))
      throw new ExpgenError(`${path} must hold a non-negative integer, got ${JSON.stringify(text.slice(0, 40))}`);
    return Number(text);
  }

  /**
   * Neurons [from, to) of (layer, split), `chunk` at a time: rows in expgen's order and the extremes. A layer with
   * no random split folder has no random rows.
   */
  *neuronsOf(
    layer: number,
    split: ReleasedSplit,
    options: { from?: number; to?: number; chunk?: number } = {},
  ): Generator<ReleasedNeuron> {
    const dir = this.layerDir(layer, split);
    const randomDir = this.layerDir(layer, `random_${split}`);
    const open = (folder: string, prefix: 'max' | 'min', withExtremes: boolean): SignArrays => ({
      seqActs: new NpyFile(join(folder, `${prefix}_seq_acts.npy`)),
      seqIds: new NpyFile(join(folder, `${prefix}_seq_ids.npy`)),
      datasetIds: new NpyFile(join(folder, `${prefix}_dataset_ids.npy`)),
      ...(withExtremes ? { extremes: new NpyFile(join(folder, `${prefix}_acts.npy`)) } : {}),
    });
    const opened: NpyFile[] = [];
    const track = (arrays: SignArrays): SignArrays => {
      opened.push(arrays.seqActs, arrays.seqIds, arrays.datasetIds, ...(arrays.extremes ? [arrays.extremes] : []));
      return arrays;
    };
    try {
      if (!existsSync(dir)) throw new ExpgenError(`${this.root} has no ${split}/layer${layer} folder`);
      const max = track(open(dir, 'max', true));
      const min = track(open(dir, 'min', true));
      const random = existsSync(join(randomDir, 'max_seq_acts.npy')) ? track(open(randomDir, 'max', false)) : undefined;
      const neurons = max.seqActs.shape[0]!;
      this.checkShapes(max, neurons, this.config.k);
      this.checkShapes(min, neurons, this.config.k);
      if (random) this.checkShapes(random, neurons, random.seqActs.shape[1] ?? 0);
      const from = options.from ?? 0;
      const to = Math.min(options.to ?? neurons, neurons);
      const chunk = options.chunk ?? 256;
      if (!Number.isSafeInteger(from) || from < 0 || from > to)
        throw new Error(`ReleasedExemplars: neuron range [${from}, ${to}) is not valid for ${neurons} neurons`);
      for (let start = from; start < to; start += chunk) {
        const end = Math.min(start + chunk, to);
        const maxRows = this.readRows(max, start, end, 'positive');
        const minRows = this.readRows(min, start, end, 'negative');
        const randomRows = random ? this.readRows(random, start, end, 'random') : undefined;
        const maxExtremes = max.extremes!.readRows(start, end) as Float32Array;
        const minExtremes = min.extremes!.readRows(start, end) as Float32Array;
        const kept = max.extremes!.rowSize;
        const keptMin = min.extremes!.rowSize;
        for (let n = start; n < end; n++) {
          const i = n - start;
          yield {
            neuron: n,
            positive: maxRows[i]!,
            negative: minRows[i]!,
            random: randomRows?.[i] ?? [],
            maxExtremes: maxExtremes.slice(i * kept, (i + 1) * kept),
            minExtremes: minExtremes.slice(i * keptMin, (i + 1) * keptMin),
          };
        }
      }
    } finally {
      for (const file of opened) file.close();
    }
  }

  /** Every row of neurons [from, to) of (layer, split), in expgen's file order. */
  *rows(
    layer: number,
    split: ReleasedSplit,
    options: { from?: number; to?: number; chunk?: number } = {},
  ): Generator<ExemplarRow> {
    for (const neuron of this.neuronsOf(layer, split, options)) {
      yield* neuron.positive;
      yield* neuron.negative;
      yield* neuron.random;
    }
  }

  private layerDir(layer: number, split: string): string {
    if (!Number.isSafeInteger(layer) || layer < 0)
      throw new Error(`ReleasedExemplars: layer ${layer} is not a non-negative integer`);
    return join(this.root, split, `layer${layer}`);
  }

  private checkShapes(arrays: SignArrays, neurons: number, k: number): void {
    const { seqLen } = this.config;
    const expect = (file: NpyFile, shape: readonly number[], dtype: 'float' | 'int') => {
      if (file.shape.length !== shape.length || file.shape.some((d, i) => d !== shape[i])) {
        throw new ExpgenError(
          `${file.path} has shape ${JSON.stringify(file.shape)}, expected ${JSON.stringify(shape)} (exemplar_config.json: k ${this.config.k}, seq_len ${seqLen})`,
        );
      }
      if (file.isFloat !== (dtype === 'float'))
        throw new ExpgenError(
          `${file.path} holds ${file.header.dtype}, expected ${dtype === 'float' ? 'floats' : 'integers'}`,
        );
    };
    expect(arrays.seqActs, [neurons, k, seqLen], 'float');
    expect(arrays.seqIds, [neurons, k, seqLen], 'int');
    expect(arrays.datasetIds, [neurons, k], 'int');
    if (arrays.extremes) {
      const kept = arrays.extremes.shape[1] ?? 0;
      if (
        arrays.extremes.shape.length !== 2 ||
        arrays.extremes.shape[0] !== neurons ||
        kept > this.config.extremesKept
      ) {
        throw new ExpgenError(
          `${arrays.extremes.path} has shape ${JSON.stringify(arrays.extremes.shape)}, expected [${neurons}, <= ${this.config.extremesKept}]`,
        );
      }
      if (!arrays.extremes.isFloat)
        throw new ExpgenError(`${arrays.extremes.path} holds ${arrays.extremes.header.dtype}, expected floats`);
    }
  }

  /** Rows of neurons [start, end) for one sign, per neuron in rank order. */
  private readRows(arrays: SignArrays, start: number, end: number, sign: ExemplarRow['sign']): ExemplarRow[][] {
    const { seqLen, datasetNames } = this.config;
    const acts = arrays.seqActs.readRows(start, end) as Float32Array;
    const ids = arrays.seqIds.readRows(start, end) as Int32Array;
    const datasets = arrays.datasetIds.readRows(start, end) as Int32Array;
    const k = arrays.seqActs.shape[1]!;
    const padding = sign === 'negative' ? Infinity : -Infinity;
    const out: ExemplarRow[][] = [];
    for (let n = start; n < end; n++) {
      const rows: ExemplarRow[] = [];
      for (let rank = 0; rank < k; rank++) {
        const at = ((n - start) * k + rank) * seqLen;
        let pad = 0;
        while (pad < seqLen && acts[at + pad] === padding) pad++;
        const activations = acts.slice(at + pad, at + seqLen);
        let activation = padding;
        for (const value of activations) {
          if (sign === 'negative' ? value < activation : value > activation) activation = value;
        }
        const datasetIndex = datasets[(n - start) * k + rank]!;
        const dataset = datasetNames[datasetIndex];
        if (dataset === undefined) {
          throw new ExpgenError(
            `${arrays.datasetIds.path}: neuron ${n} rank ${rank} has dataset id ${datasetIndex}, but the config names ${datasetNames.length} datasets (${datasetNames.join(', ')})`,
          );
        }
        rows.push({
          feature: n,
          sign,
          rank,
          activation,
          sequence: null,
          dataset,
          document: null,
          window: null,
          countFrom: 0,
          tokens: ids.slice(at + pad, at + seqLen),
          activations,
        });
      }
      out.push(rows);
    }
    return out;
  }
}
