/**
 * Arrow tables and IPC bytes for this package's tests and fixtures, written with apache-arrow's own writer.
 */
import {
  type CompressionType,
  Field,
  Float64,
  Int64,
  LargeUtf8,
  List,
  makeData,
  RecordBatchFileWriter,
  RecordBatchStreamWriter,
  Struct,
  Table,
  Utf8,
  vectorFromArray,
  makeVector,
  type DataType,
  type Vector,
} from 'apache-arrow';
import type { FineWebRow, LmsysRow } from './sample-corpus.js';

export const MESSAGE_TYPE = new Struct([new Field('content', new Utf8(), true), new Field('role', new Utf8(), true)]);
export const CONVERSATION_TYPE = new List(new Field('item', MESSAGE_TYPE, true));

/** A column of explicit type (apache-arrow would otherwise infer strings as dictionary-encoded). */
export function column<T extends DataType>(values: readonly unknown[], type: T): Vector<T> {
  return vectorFromArray(values as unknown[], type) as Vector<T>;
}

/** A Utf8 column from raw bytes, so a test can put invalid UTF-8 in it. */
export function rawUtf8Column(values: readonly Uint8Array[]): Vector<Utf8> {
  const offsets = new Int32Array(values.length + 1);
  values.forEach((v, i) => {
    offsets[i + 1] = offsets[i]! + v.length;
  });
  const bytes = new Uint8Array(offsets[values.length]!);
  values.forEach((v, i) => {
    bytes.set(v, offsets[i]!);
  });
  return makeVector(makeData({ type: new Utf8(), length: values.length, valueOffsets: offsets, data: bytes }));
}

export function fineWebTable(rows: readonly FineWebRow[], options: { largeText?: boolean } = {}): Table {
  return new Table({
    text: column(
      rows.map((r) => r.text),
      options.largeText ? new LargeUtf8() : new Utf8(),
    ),
    id: column(
      rows.map((r) => r.id),
      new Utf8(),
    ),
    dump: column(
      rows.map((r) => r.dump),
      new Utf8(),
    ),
    url: column(
      rows.map((r) => r.url),
      new Utf8(),
    ),
    date: column(
      rows.map((r) => r.date),
      new Utf8(),
    ),
    file_path: column(
      rows.map((r) => r.file_path),
      new Utf8(),
    ),
    language: column(
      rows.map((r) => r.language),
      new Utf8(),
    ),
    language_score: column(
      rows.map((r) => r.language_score),
      new Float64(),
    ),
    token_count: column(
      rows.map((r) => r.token_count),
      new Int64(),
    ),
  });
}

export function lmsysTable(rows: readonly LmsysRow[]): Table {
  return new Table({
    conversation_id: column(
      rows.map((r) => r.conversation_id),
      new Utf8(),
    ),
    model: column(
      rows.map((r) => r.model),
      new Utf8(),
    ),
    conversation: column(
      rows.map((r) => r.conversation),
      CONVERSATION_TYPE,
    ),
    turn: column(
      rows.map((r) => r.turn),
      new Int64(),
    ),
    language: column(
      rows.map((r) => r.language),
      new Utf8(),
    ),
  });
}

/** Splits a table into record batches of `size` rows (apache-arrow keeps the batches when writing). */
export function inBatches(table: Table, size: number): Table {
  const parts: Table[] = [];
  for (let start = 0; start < table.numRows; start += size) parts.push(table.slice(start, start + size));
  return parts.length > 1 ? parts[0]!.concat(...parts.slice(1)) : table;
}

/** IPC bytes: the file format (Feather v2) or the stream format, optionally with compressed buffers. */
export function writeIpc(
  table: Table,
  format: 'file' | 'stream',
  compression: CompressionType | null = null,
): Uint8Array {
  const options = { compressionType: compression };
  const writer = format === 'file' ? new RecordBatchFileWriter(options) : new RecordBatchStreamWriter(options);
  return writer.writeAll(table).toUint8Array(true);
}
