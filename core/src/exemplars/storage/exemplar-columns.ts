import type { RecordBatch, Schema } from 'apache-arrow';
import type { RandomSequences } from '../state/random-sequences.js';
import type { SequencePlacement, SequenceRecord } from '../state/sequence-store.js';
import type { TopKExemplars } from '../state/top-k-exemplars.js';
import { listColumn, primitiveColumn, recordBatch, utf8Column } from './arrow-io.js';
import { FEATURES_PER_BATCH } from './exemplar-file.js';

/**
 * The exemplar file's record batches built straight from the states: per batch of 256 features, each column is
 * one typed array filled by copying from the state's and the store's own arrays (tokens and per-token values are
 * block copies), with no per-row object — the writer then streams those buffers to the file. A layer of
 * Llama-3.1-8B at k = 100 is ~2.9 million rows and ~2.3 GB per split, so rows as objects cost more than the disk.
 * The bytes are those `writeExemplarFile` writes from `exemplarRowsOf` (the row-by-row reference, tested equal).
 */

/** What the column builders read a sequence from: a SequenceStore's `peek` (no copy) or any `get`. */
export interface SequenceSource {
  get(sequenceId: number): (SequenceRecord & SequencePlacement) | undefined;
  peek?(sequenceId: number): (SequenceRecord & SequencePlacement) | undefined;
}

/** One (space, layer, split)'s states and where each state feature sits in the layer. */
export interface ExemplarColumnsInput {
  readonly topK: TopKExemplars;
  readonly random?: RandomSequences;
  /** Layer feature of each state feature, ascending; null: state feature i is layer feature i. */
  readonly features: Int32Array | null;
  /** Features of the layer: the file has ceil(width / 256) record batches. */
  readonly width: number;
  readonly split: string;
  readonly datasets: readonly string[];
  /** countFrom of sequences whose record does not say. */
  readonly countedFrom: number;
  /** Names the file and state in errors. */
  readonly where: string;
}

const SIGN_BYTES = ['positive', 'negative', 'random'].map((s) => new TextEncoder().encode(s));

/** Growable byte buffer for the utf8 columns. */
class Bytes {
  bytes = new Uint8Array(4096);
  length = 0;
  push(value: Uint8Array): void {
    if (this.length + value.length > this.bytes.length) {
      const grown = new Uint8Array(Math.max(2 * this.bytes.length, this.length + value.length));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(value, this.length);
    this.length += value.length;
  }
}

/** The exemplar file's record batches of `input`, one per 256 layer features (empty batches included). */
export function* exemplarRecordBatches(
  schema: Schema,
  input: ExemplarColumnsInput,
  sequences: SequenceSource,
): Generator<RecordBatch> {
  const { topK, random, features } = input;
  const stateFeatures = topK.features;
  const groups = Math.ceil(input.width / FEATURES_PER_BATCH);
  const encoder = new TextEncoder();
  const datasetBytes = input.datasets.map((name) => encoder.encode(name));
  const lookup = (id: number, where: () => string) => {
    const record = sequences.peek ? sequences.peek(id) : sequences.get(id);
    if (!record)
      throw new Error(
        `${input.where}: sequence ${id} (${where()}) has no tokens in the sequence store; the host must put() every row of a batch after the states take it`,
      );
    if (record.split !== input.split)
      throw new Error(`${input.where}: sequence ${id} (${where()}) belongs to split "${record.split}"`);
    if (datasetBytes[record.datasetIndex] === undefined)
      throw new Error(
        `${input.where}: sequence ${id} has dataset index ${record.datasetIndex}, but the output names ${input.datasets.length} datasets`,
      );
    return record;
  };
  let next = 0; // first state feature not written yet
  for (let group = 0; group < groups; group++) {
    const end = FEATURES_PER_BATCH * (group + 1);
    let last = next;
    while (last < stateFeatures && (features ? features[last]! : last) < end) last++;
    yield buildBatch(schema, next, last);
    next = last;
  }

  function buildBatch(batchSchema: Schema, from: number, to: number): RecordBatch {
    // First pass: rows and tokens, so that every column is allocated once at its size.
    let rows = 0;
    let tokens = 0;
    for (let f = from; f < to; f++) {
      const layerFeature = features ? features[f]! : f;
      const signs = [
        ['positive', (visit: (id: number) => void) => topK.forEachRanked(f, 'positive', visit)],
        ['negative', (visit: (id: number) => void) => topK.forEachRanked(f, 'negative', visit)],
        ['random', (visit: (id: number) => void) => random?.forEachHeld(f, visit)],
      ] as const;
      for (const [sign, each] of signs) {
        let r = 0;
        each((id) => {
          const rank = r++;
          rows++;
          tokens += lookup(id, () => `feature ${layerFeature}, ${sign} rank ${rank}`).length;
        });
      }
    }
    const feature = new Int32Array(rows);
    const rank = new Int32Array(rows);
    const activation = new Float32Array(rows);
    const sequence = new BigInt64Array(rows);
    const window = new Int32Array(rows);
    const windowValid = new Uint8Array(rows);
    const countFrom = new Int32Array(rows);
    const signOffsets = new Int32Array(rows + 1);
    const signBytes = new Bytes();
    const datasetOffsets = new Int32Array(rows + 1);
    const datasetText = new Bytes();
    const documentOffsets = new Int32Array(rows + 1);
    const documentText = new Bytes();
    const listOffsets = new Int32Array(rows + 1);
    const tokenValues = new Int32Array(tokens);
    const activationValues = new Float32Array(tokens);
    const documentCache = new Map<string, Uint8Array>();
    let row = 0;
    let at = 0;
    const add = (
      layerFeature: number,
      sign: number,
      r: number,
      id: number,
      extreme: number | null,
      copy: (into: Float32Array, at: number, length: number) => void,
    ) => {
      const record = lookup(id, () => `feature ${layerFeature}, ${['positive', 'negative', 'random'][sign]} rank ${r}`);
      const length = record.length;
      const from = typeof record.countFrom === 'number' ? record.countFrom : input.countedFrom;
      feature[row] = layerFeature;
      rank[row] = r;
      sequence[row] = BigInt(id);
      if (typeof record.window === 'number') {
        window[row] = record.window;
        windowValid[row] = 1;
      }
      countFrom[row] = from;
      signBytes.push(SIGN_BYTES[sign]!);
      signOffsets[row + 1] = signBytes.length;
      datasetText.push(datasetBytes[record.datasetIndex]!);
      datasetOffsets[row + 1] = datasetText.length;
      let document = documentCache.get(record.documentId);
      if (!document) documentCache.set(record.documentId, (document = encoder.encode(record.documentId)));
      documentText.push(document);
      documentOffsets[row + 1] = documentText.length;
      tokenValues.set(record.tokens.subarray(0, length), at);
      copy(activationValues, at, length);
      // The random rows' `activation` is their counted max, the same reduction the subject applies.
      let value = extreme;
      if (value === null) {
        value = -Infinity;
        for (let t = from; t < length; t++) if (activationValues[at + t]! > value) value = activationValues[at + t]!;
      }
      activation[row] = value;
      at += length;
      listOffsets[row + 1] = at;
      row++;
    };
    for (let f = from; f < to; f++) {
      const layerFeature = features ? features[f]! : f;
      for (const [sign, name] of [
        [0, 'positive'],
        [1, 'negative'],
      ] as const) {
        let r = 0;
        topK.forEachRanked(f, name, (id, extreme, values, offset) => {
          add(layerFeature, sign, r++, id, extreme, (into, to, length) => {
            into.set(values.subarray(offset, offset + length), to);
          });
        });
      }
      let r = 0;
      random?.forEachHeld(f, (id, values, offset, stride) => {
        add(layerFeature, 2, r++, id, null, (into, to, length) => {
          for (let t = 0; t < length; t++) into[to + t] = values[offset + t * stride]!;
        });
      });
    }
    const fields = batchSchema.fields;
    const utf8 = (type: (typeof fields)[number]['type'], offsets: Int32Array, bytes: Bytes) =>
      utf8Column(type, offsets, bytes.bytes.slice(0, bytes.length));
    return recordBatch(batchSchema, rows, [
      primitiveColumn(fields[0]!.type, feature),
      utf8(fields[1]!.type, signOffsets, signBytes),
      primitiveColumn(fields[2]!.type, rank),
      primitiveColumn(fields[3]!.type, activation),
      primitiveColumn(fields[4]!.type, sequence),
      utf8(fields[5]!.type, datasetOffsets, datasetText),
      utf8(fields[6]!.type, documentOffsets, documentText),
      primitiveColumn(fields[7]!.type, window, windowValid),
      primitiveColumn(fields[8]!.type, countFrom),
      listColumn(fields[9]!.type, listOffsets, tokenValues),
      listColumn(fields[10]!.type, listOffsets, activationValues),
    ]);
  }
}
