import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  Field,
  Int32,
  List,
  RecordBatch,
  RecordBatchFileWriter,
  type Schema,
  Struct,
  makeData,
  type Data,
  type DataType,
} from 'apache-arrow';
import { errorAtTarget } from '@expgen/plugin-kit';
import { expgenVersion } from '../../engine/output-records.js';
import { CONFIG_HASH_KEY, FORMAT_KEY, VERSION_KEY } from './arrow-read.js';

/**
 * The Arrow plumbing the exemplar and distribution files share: an atomic, streaming writer of the IPC *file*
 * format and typed builders that go straight from typed arrays to Arrow buffers (no per-value builder calls: a
 * layer of Llama-3.1-8B is ~3 million rows of 95 tokens). The reading side is arrow-read.ts, re-exported here.
 */

export * from './arrow-read.js';

/**
 * A RecordBatchFileWriter that writes each chunk straight to a file descriptor instead of queueing it in memory:
 * apache-arrow's writer funnels every byte through the protected `_write`, so overriding it turns the writer into
 * a streaming one whose memory is one record batch, whatever the file size.
 */
class DescriptorFileWriter extends RecordBatchFileWriter {
  constructor(private readonly fd: number) {
    super();
  }

  protected override _write(chunk: unknown): this {
    if (!this._started) return this;
    let bytes: Uint8Array;
    if (ArrayBuffer.isView(chunk)) bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    else if (chunk instanceof ArrayBuffer) bytes = new Uint8Array(chunk);
    else throw new Error(`arrow file writer: unexpected chunk ${Object.prototype.toString.call(chunk)}`);
    writeFully(this.fd, bytes);
    this._position += bytes.byteLength;
    return this;
  }
}

function writeFully(fd: number, bytes: Uint8Array): void {
  let at = 0;
  while (at < bytes.byteLength) at += writeSync(fd, bytes, at, bytes.byteLength - at);
}

let temporaryCounter = 0;

/**
 * Writes `path` so that it appears complete or not at all: the content goes to `<path>.tmp-<pid>-<n>` (a name no
 * reader globs for), is fsynced, renamed over `path`, and the folder is fsynced so the rename survives a crash.
 * If `produce` throws, the temporary file is removed and `path` is left as it was.
 */
export function writeFileAtomically(path: string, produce: (fd: number) => void): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${process.pid}-${temporaryCounter++}`;
  const fd = openSync(temporary, 'wx');
  let open = true;
  let renamed = false;
  try {
    produce(fd);
    fsyncSync(fd);
    closeSync(fd);
    open = false;
    renameSync(temporary, path);
    renamed = true;
    syncDirectory(dirname(path));
  } catch (error) {
    throw errorAtTarget(error, temporary, path); // a full disk names the file, not the temporary (or nothing)
  } finally {
    if (open) closeSync(fd);
    if (!renamed) rmSync(temporary, { force: true });
  }
}

export function writeBytesAtomically(path: string, data: Uint8Array | string): void {
  writeFileAtomically(path, (fd) => writeFully(fd, typeof data === 'string' ? new TextEncoder().encode(data) : data));
}

/** fsync of a directory makes a rename durable on Linux; other platforms refuse to open one, which is harmless. */
function syncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // Some file systems (and Windows) do not support fsync on directories.
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes record batches as one Arrow IPC file, atomically. Every batch must have `schema`: a different schema
 * would make apache-arrow's writer end the file early. There must be at least one batch (which
 * may have no rows): apache-arrow writes nothing at all, not even the schema, for a file without batches.
 */
export function writeArrowFile(path: string, schema: Schema, batches: Iterable<RecordBatch>): void {
  writeFileAtomically(path, (fd) => {
    const writer = new DescriptorFileWriter(fd);
    let written = 0;
    for (const batch of batches) {
      if (!sameSchema(batch.schema, schema))
        throw new Error(`arrow file writer: a batch for ${path} does not have the file's schema`);
      writer.write(batch);
      written++;
    }
    if (written === 0) throw new Error(`arrow file writer: no record batch for ${path}`);
    writer.close();
  });
}

/** A record batch from column data (all of `length` rows), in schema order. */
function sameSchema(a: Schema, b: Schema): boolean {
  if (a === b) return true;
  const fields = (s: Schema) => s.fields.map((f: Field) => `${f.name}:${String(f.type)}:${f.nullable}`).join(',');
  const metadata = (s: Schema) => JSON.stringify([...s.metadata]);
  return fields(a) === fields(b) && metadata(a) === metadata(b);
}

export function recordBatch(schema: Schema, length: number, children: Data[]): RecordBatch {
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length, nullCount: 0, children }));
}

export function schemaMetadata(format: string, configHash: string): Map<string, string> {
  return new Map([
    [FORMAT_KEY, format],
    [VERSION_KEY, expgenVersion()],
    [CONFIG_HASH_KEY, configHash],
  ]);
}

// ---------------------------------------------------------------------------------------------------------------
// Building columns from typed arrays

export function listOf(type: DataType, itemNullable = false): List {
  return new List(new Field('item', type, itemNullable));
}

/** A validity bitmap (bit set = value present) for `length` rows, or undefined when every row is valid. */
export function validityBitmap(
  valid: ArrayLike<number>,
  length: number,
): { nullBitmap?: Uint8Array; nullCount: number } {
  let nulls = 0;
  for (let i = 0; i < length; i++) if (!valid[i]) nulls++;
  if (nulls === 0) return { nullCount: 0 };
  const bitmap = new Uint8Array(((length + 63) >> 6) << 3);
  for (let i = 0; i < length; i++) if (valid[i]) bitmap[i >> 3]! |= 1 << (i & 7);
  return { nullBitmap: bitmap, nullCount: nulls };
}

/** Accumulates UTF-8 strings (or nulls) into an Arrow utf8 column. */
export class Utf8Column {
  private bytes = new Uint8Array(1024);
  private byteLength = 0;
  private offsets: number[] = [0];
  private valid: number[] = [];
  private readonly encoder = new TextEncoder();
  private readonly cache = new Map<string, Uint8Array>();

  add(value: string | null): void {
    if (value !== null) {
      // Dataset names and document ids repeat across rows; encoding each distinct string once saves most of the work.
      let encoded = this.cache.get(value);
      if (!encoded) {
        encoded = this.encoder.encode(value);
        if (this.cache.size < 65536) this.cache.set(value, encoded);
      }
      if (this.byteLength + encoded.length > this.bytes.length) {
        const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.byteLength + encoded.length));
        grown.set(this.bytes.subarray(0, this.byteLength));
        this.bytes = grown;
      }
      this.bytes.set(encoded, this.byteLength);
      this.byteLength += encoded.length;
    }
    this.offsets.push(this.byteLength);
    this.valid.push(value === null ? 0 : 1);
  }

  build(type: DataType): Data {
    const length = this.valid.length;
    return makeData({
      type,
      length,
      valueOffsets: Int32Array.from(this.offsets),
      data: this.bytes.slice(0, this.byteLength),
      ...validityBitmap(this.valid, length),
    } as never);
  }
}

/** Accumulates variable-length rows of numbers into an Arrow list column over a typed child. */
export class ListColumn<T extends Int32Array | Float32Array | Float64Array | BigInt64Array> {
  private values: T;
  private length = 0;
  private offsets: number[] = [0];
  private valid: number[] = [];

  constructor(private readonly make: (n: number) => T) {
    this.values = make(1024);
  }

  /** Appends one row (a copy of `row`), or a null row. */
  add(row: ArrayLike<number> | ArrayLike<bigint> | null): void {
    if (row !== null) {
      if (this.length + row.length > this.values.length) {
        const grown = this.make(Math.max(this.values.length * 2, this.length + row.length));
        grown.set(this.values.subarray(0, this.length) as never);
        this.values = grown;
      }
      this.values.set(row as never, this.length);
      this.length += row.length;
    }
    this.offsets.push(this.length);
    this.valid.push(row === null ? 0 : 1);
  }

  build(type: List): Data {
    const rows = this.valid.length;
    const child = makeData({
      type: type.children[0]!.type,
      length: this.length,
      data: this.values.slice(0, this.length),
    } as never);
    return makeData({
      type,
      length: rows,
      valueOffsets: Int32Array.from(this.offsets),
      child,
      ...validityBitmap(this.valid, rows),
    } as never);
  }
}

/** A fixed-width column from a typed array, with an optional validity per row. */
export function primitiveColumn(
  type: DataType,
  values: ArrayLike<unknown> & { length: number },
  valid?: ArrayLike<number>,
): Data {
  return makeData({
    type,
    length: values.length,
    data: values,
    ...(valid ? validityBitmap(valid, values.length) : { nullCount: 0 }),
  } as never);
}

/** A utf8 column (no nulls) from its offsets (rows + 1) and bytes. */
export function utf8Column(type: DataType, offsets: Int32Array, bytes: Uint8Array): Data {
  return makeData({ type, length: offsets.length - 1, valueOffsets: offsets, data: bytes, nullCount: 0 } as never);
}

/** A list column (no nulls) from its offsets (rows + 1) and its child's values. */
export function listColumn(type: DataType, offsets: Int32Array, values: Int32Array | Float32Array): Data {
  const child = makeData({ type: (type as List).children[0]!.type, length: values.length, data: values } as never);
  return makeData({ type, length: offsets.length - 1, valueOffsets: offsets, child, nullCount: 0 } as never);
}

export const INT32 = new Int32();
