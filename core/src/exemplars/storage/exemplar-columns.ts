import type { RecordBatch, Schema } from 'apache-arrow';
import type { RandomSequences } from '../state/random-sequences.js';
import type { SequenceColumns } from '../state/sequence-store.js';
import type { TopKExemplars } from '../state/top-k-exemplars.js';
import { listColumn, primitiveColumn, recordBatch, utf8Column } from './arrow-io.js';
import { FEATURES_PER_BATCH } from './exemplar-file.js';

/**
 * The exemplar file's record batches built straight from the states: per batch of 256 features, each column is
 * one typed array filled from the states' and the sequence store's own arrays (tokens and per-token values are
 * block copies), with no object per row; the writer streams those buffers to the file. A layer of Llama-3.1-8B at
 * k = 100 is ~2.9 million rows and ~2.3 GB per split, so rows as objects would cost more than the disk. The bytes
 * are those `writeExemplarFile` writes from `exemplarRowsOf` (the row-by-row reference; tested equal).
 */

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

const encoder = new TextEncoder();
const SIGN_BYTES = ['positive', 'negative', 'random'].map((s) => encoder.encode(s));
const SIGNS = ['positive', 'negative', 'random'] as const;

/** Column buffers of one record batch, allocated for the largest batch and reused (each is written before the next). */
class BatchBuffers {
  rows = 0;
  tokens = 0;
  readonly feature: Int32Array;
  readonly rank: Int32Array;
  readonly activation: Float32Array;
  /** int64 as (low, high) int32 words: no BigInt per row. */
  readonly sequence: BigInt64Array;
  readonly sequenceWords: Int32Array;
  readonly window: Int32Array;
  readonly windowValid: Uint8Array;
  readonly countFrom: Int32Array;
  readonly signOffsets: Int32Array;
  readonly datasetOffsets: Int32Array;
  readonly documentOffsets: Int32Array;
  readonly listOffsets: Int32Array;
  readonly tokenValues: Int32Array;
  readonly activationValues: Float32Array;
  signBytes: Uint8Array = new Uint8Array(1 << 16);
  datasetBytes: Uint8Array = new Uint8Array(1 << 16);
  documentBytes: Uint8Array = new Uint8Array(1 << 16);
  signLength = 0;
  datasetLength = 0;
  documentLength = 0;

  constructor(maxRows: number, seqLen: number) {
    this.feature = new Int32Array(maxRows);
    this.rank = new Int32Array(maxRows);
    this.activation = new Float32Array(maxRows);
    this.sequence = new BigInt64Array(maxRows);
    this.sequenceWords = new Int32Array(this.sequence.buffer);
    this.window = new Int32Array(maxRows);
    this.windowValid = new Uint8Array(maxRows);
    this.countFrom = new Int32Array(maxRows);
    this.signOffsets = new Int32Array(maxRows + 1);
    this.datasetOffsets = new Int32Array(maxRows + 1);
    this.documentOffsets = new Int32Array(maxRows + 1);
    this.listOffsets = new Int32Array(maxRows + 1);
    this.tokenValues = new Int32Array(maxRows * seqLen);
    this.activationValues = new Float32Array(maxRows * seqLen);
  }

  reset(): void {
    this.rows = 0;
    this.tokens = 0;
    this.signLength = 0;
    this.datasetLength = 0;
    this.documentLength = 0;
    this.windowValid.fill(0);
  }

  pushSign(bytes: Uint8Array): void {
    this.signBytes = grow(this.signBytes, this.signLength + bytes.length);
    this.signBytes.set(bytes, this.signLength);
    this.signLength += bytes.length;
  }

  pushDataset(bytes: Uint8Array): void {
    this.datasetBytes = grow(this.datasetBytes, this.datasetLength + bytes.length);
    this.datasetBytes.set(bytes, this.datasetLength);
    this.datasetLength += bytes.length;
  }

  pushDocument(bytes: Uint8Array): void {
    this.documentBytes = grow(this.documentBytes, this.documentLength + bytes.length);
    this.documentBytes.set(bytes, this.documentLength);
    this.documentLength += bytes.length;
  }
}

function grow(bytes: Uint8Array, needed: number): Uint8Array {
  if (needed <= bytes.length) return bytes;
  const grown = new Uint8Array(Math.max(2 * bytes.length, needed));
  grown.set(bytes);
  return grown;
}

/**
 * The exemplar file's record batches of `input`, one per 256 layer features (empty batches included). The
 * batches share reused buffers: write each before taking the next (the file writer does).
 */
export function* exemplarRecordBatches(
  schema: Schema,
  input: ExemplarColumnsInput,
  sequences: SequenceColumns,
): Generator<RecordBatch> {
  const { topK, random, features } = input;
  const seqLen = topK.seqLen;
  const stateFeatures = topK.features;
  const groups = Math.ceil(input.width / FEATURES_PER_BATCH);
  const held = random ? random.selection() : { ids: new Float64Array(0), slots: new Int32Array(0) };
  const perFeature = 2 * topK.k + held.ids.length;
  const buffers = new BatchBuffers(perFeature * Math.min(FEATURES_PER_BATCH, stateFeatures), seqLen);
  // The random sequences' values of one batch's features, transposed to [rank, feature, seqLen]: the state holds
  // them [slot, seqLen, feature], and reading one feature's 95 values from there is 95 cache misses.
  const randomBlock = new Float32Array(held.ids.length * FEATURES_PER_BATCH * seqLen);
  const datasetBytes = input.datasets.map((name) => encoder.encode(name));
  const splitIndex = sequences.splitNames.indexOf(input.split);
  const documentCache = new Map<string, Uint8Array>();
  const slotOf = (id: number, where: () => string) => {
    const slot = sequences.slotOf(id);
    if (slot < 0)
      throw new Error(
        `${input.where}: sequence ${id} (${where()}) has no tokens in the sequence store; the host must put() every row of a batch after the states take it`,
      );
    if (sequences.splitIndexes[slot] !== splitIndex)
      throw new Error(
        `${input.where}: sequence ${id} (${where()}) belongs to split "${sequences.splitNames[sequences.splitIndexes[slot]!]}"`,
      );
    if (datasetBytes[sequences.datasetIndexes[slot]!] === undefined)
      throw new Error(
        `${input.where}: sequence ${id} has dataset index ${sequences.datasetIndexes[slot]}, but the output names ${input.datasets.length} datasets`,
      );
    return slot;
  };

  let next = 0; // first state feature not written yet
  for (let group = 0; group < groups; group++) {
    const end = FEATURES_PER_BATCH * (group + 1);
    let last = next;
    while (last < stateFeatures && (features ? features[last]! : last) < end) last++;
    buffers.reset();
    if (random) transposeRandom(random, held.slots, next, last, randomBlock);
    for (let f = next; f < last; f++) {
      const layerFeature = features ? features[f]! : f;
      for (const sign of [0, 1] as const) {
        let rank = 0;
        topK.forEachRanked(f, SIGNS[sign], (id, extreme, values, offset) => {
          const r = rank++;
          const slot = slotOf(id, () => `feature ${layerFeature}, ${SIGNS[sign]} rank ${r}`);
          const at = addRow(layerFeature, sign, r, id, slot);
          buffers.activationValues.set(values.subarray(offset, offset + sequences.lengths[slot]!), at);
          buffers.activation[buffers.rows - 1] = extreme;
        });
      }
      for (let r = 0; r < held.ids.length; r++) {
        const id = held.ids[r]!;
        const slot = slotOf(id, () => `feature ${layerFeature}, random rank ${r}`);
        const length = sequences.lengths[slot]!;
        const at = addRow(layerFeature, 2, r, id, slot);
        const from = (r * FEATURES_PER_BATCH + (f - next)) * seqLen;
        buffers.activationValues.set(randomBlock.subarray(from, from + length), at);
        // The random rows' `activation` is their counted max, the same reduction the subject applies.
        let max = -Infinity;
        for (let t = buffers.countFrom[buffers.rows - 1]!; t < length; t++) {
          const value = buffers.activationValues[at + t]!;
          if (value > max) max = value;
        }
        buffers.activation[buffers.rows - 1] = max;
      }
    }
    yield build(schema);
    next = last;
  }

  /** Appends a row's fixed columns and tokens; returns where its values start in the list columns. */
  function addRow(layerFeature: number, sign: number, rank: number, id: number, slot: number): number {
    const b = buffers;
    const row = b.rows++;
    const length = sequences.lengths[slot]!;
    b.feature[row] = layerFeature;
    b.rank[row] = rank;
    b.sequenceWords[2 * row] = (id % 0x100000000) | 0;
    b.sequenceWords[2 * row + 1] = Math.floor(id / 0x100000000);
    const window = sequences.windows[slot]!;
    b.window[row] = Math.max(window, 0);
    b.windowValid[row] = window >= 0 ? 1 : 0;
    const countFrom = sequences.countFroms[slot]!;
    b.countFrom[row] = countFrom >= 0 ? countFrom : input.countedFrom;
    b.pushSign(SIGN_BYTES[sign]!);
    b.signOffsets[row + 1] = b.signLength;
    b.pushDataset(datasetBytes[sequences.datasetIndexes[slot]!]!);
    b.datasetOffsets[row + 1] = b.datasetLength;
    const documentId = sequences.documentIds[slot]!;
    let document = documentCache.get(documentId);
    if (!document) {
      if (documentCache.size > 1 << 16) documentCache.clear();
      documentCache.set(documentId, (document = encoder.encode(documentId)));
    }
    b.pushDocument(document);
    b.documentOffsets[row + 1] = b.documentLength;
    const at = b.tokens;
    b.tokenValues.set(sequences.tokens.subarray(slot * seqLen, slot * seqLen + length), at);
    b.tokens += length;
    b.listOffsets[row + 1] = b.tokens;
    return at;
  }

  function build(batchSchema: Schema): RecordBatch {
    const b = buffers;
    const rows = b.rows;
    const fields = batchSchema.fields;
    const type = (i: number) => fields[i]!.type;
    return recordBatch(batchSchema, rows, [
      primitiveColumn(type(0), b.feature.subarray(0, rows)),
      utf8Column(type(1), b.signOffsets.subarray(0, rows + 1), b.signBytes.subarray(0, b.signLength)),
      primitiveColumn(type(2), b.rank.subarray(0, rows)),
      primitiveColumn(type(3), b.activation.subarray(0, rows)),
      primitiveColumn(type(4), b.sequence.subarray(0, rows)),
      utf8Column(type(5), b.datasetOffsets.subarray(0, rows + 1), b.datasetBytes.subarray(0, b.datasetLength)),
      utf8Column(type(6), b.documentOffsets.subarray(0, rows + 1), b.documentBytes.subarray(0, b.documentLength)),
      primitiveColumn(type(7), b.window.subarray(0, rows), b.windowValid.subarray(0, rows)),
      primitiveColumn(type(8), b.countFrom.subarray(0, rows)),
      listColumn(type(9), b.listOffsets.subarray(0, rows + 1), b.tokenValues.subarray(0, b.tokens)),
      listColumn(type(10), b.listOffsets.subarray(0, rows + 1), b.activationValues.subarray(0, b.tokens)),
    ]);
  }
}

/** Copies features [from, to) of every held random sequence into `block` as [rank, feature - from, seqLen]. */
function transposeRandom(
  random: RandomSequences,
  slots: Int32Array,
  from: number,
  to: number,
  block: Float32Array,
): void {
  const { features, seqLen } = random;
  const values = random.valueArray;
  for (let r = 0; r < slots.length; r++) {
    const slot = slots[r]!;
    for (let t = 0; t < seqLen; t++) {
      const source = (slot * seqLen + t) * features;
      for (let f = from; f < to; f++) block[(r * FEATURES_PER_BATCH + (f - from)) * seqLen + t] = values[source + f]!;
    }
  }
}
