import { open, type FileHandle } from 'node:fs/promises';
import {
  type Field,
  RecordBatchReader,
  type AsyncRecordBatchFileReader,
  type AsyncRecordBatchStreamReader,
  type Data,
  type RecordBatch,
  type Schema,
} from 'apache-arrow';
import { ExpgenError } from '@expgen/contract';

/**
 * Schema metadata keys: the file's format, the expgen version that wrote it (absent in files of versions before
 * it was recorded), the config hash. Nothing else goes in the metadata, so equal content (written by one version)
 * gives equal bytes.
 */
export const FORMAT_KEY = 'expgen.format';
export const VERSION_KEY = 'expgen.version';
export const CONFIG_HASH_KEY = 'expgen.config_hash';

/**
 * The reading side of the Arrow plumbing: a random-access reader of expgen's Arrow IPC files, typed accessors of
 * a batch's columns, and the batched reader both stage-1 file readers extend.
 */

/** An open Arrow IPC file whose record batches are read one at a time, by offset, from a file handle. */
export interface OpenArrowFile {
  readonly path: string;
  readonly schema: Schema;
  readonly batches: number;
  readonly format: string;
  readonly configHash: string;
  readBatch(index: number): Promise<RecordBatch>;
  close(): Promise<void>;
}

/**
 * Opens `path` as an Arrow IPC file written by expgen: checks the magic bytes at both ends (a file cut short or a
 * stream-format file fails here with a message that says so), the format named in the schema metadata, and the
 * columns against `expected` (names and types, in order).
 */
export async function openArrowFile(path: string, formatPrefix: string, expected: Schema): Promise<OpenArrowFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new ExpgenError(`${path} cannot be opened (${(error as Error).message})`, { cause: error });
  }
  let reader: AsyncRecordBatchFileReader | AsyncRecordBatchStreamReader | undefined;
  const close = async () => {
    await reader?.cancel().catch(() => undefined);
    await handle.close().catch(() => undefined);
  };
  try {
    const { size } = await handle.stat();
    const magic = 'ARROW1';
    const head = new Uint8Array(Math.min(size, 6));
    const tail = new Uint8Array(Math.min(size, 6));
    await handle.read(head, 0, head.length, 0);
    await handle.read(tail, 0, tail.length, Math.max(0, size - 6));
    const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    if (size < 12 || text(head) !== magic)
      throw new ExpgenError(
        `${path} is not an Arrow IPC file (it does not start with ARROW1): it is damaged or not an expgen output`,
      );
    if (text(tail) !== magic)
      throw new ExpgenError(
        `${path} is cut short (no ARROW1 at its end): it was not written completely; write it again`,
      );
    try {
      reader = await RecordBatchReader.from(handle);
      await reader.open({ autoDestroy: false });
    } catch (error) {
      throw new ExpgenError(`${path} is not a readable Arrow IPC file (${(error as Error).message})`, { cause: error });
    }
    if (!reader.isFile()) throw new ExpgenError(`${path} is an Arrow IPC stream, not a file`);
    const opened = reader as AsyncRecordBatchFileReader;
    const schema = opened.schema;
    const format = schema.metadata.get(FORMAT_KEY) ?? '';
    if (!format.startsWith(`${formatPrefix}/`)) {
      throw new ExpgenError(
        `${path} is not an expgen ${formatPrefix} file (its schema metadata "${FORMAT_KEY}" is ${JSON.stringify(format || null)})`,
      );
    }
    checkColumns(path, schema, expected);
    return {
      path,
      schema,
      batches: opened.numRecordBatches,
      format,
      configHash: schema.metadata.get(CONFIG_HASH_KEY) ?? '',
      async readBatch(index: number) {
        const batch = await opened.readRecordBatch(index);
        if (!batch)
          throw new ExpgenError(
            `${path}: record batch ${index} cannot be read (the file has ${opened.numRecordBatches})`,
          );
        return batch;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

function checkColumns(path: string, schema: Schema, expected: Schema): void {
  const describe = (s: Schema) => s.fields.map((f: Field) => `${f.name}: ${String(f.type)}`).join(', ');
  const same =
    schema.fields.length === expected.fields.length &&
    schema.fields.every(
      (field: Field, i: number) =>
        field.name === expected.fields[i]!.name && String(field.type) === String(expected.fields[i]!.type),
    );
  if (!same)
    throw new ExpgenError(
      `${path} has columns (${describe(schema)}), expected (${describe(expected)}): it was written by another version of expgen or another program`,
    );
}

/** The single data chunk of column `name` (batches read from a file have one chunk per column, at offset 0). */
export function columnData(path: string, batch: RecordBatch, name: string): Data {
  const data = batch.getChild(name)?.data;
  if (data?.length !== 1 || data[0]!.offset !== 0)
    throw new ExpgenError(`${path}: column "${name}" is missing or not a single chunk`);
  return data[0]!;
}

/** Values of a fixed-width column as a typed array view of its `length` elements. */
export function int32Values(data: Data): Int32Array {
  return (data.values as Int32Array).subarray(0, data.length);
}

export function float32Values(data: Data): Float32Array {
  return (data.values as Float32Array).subarray(0, data.length);
}

export function float64Values(data: Data): Float64Array {
  return (data.values as Float64Array).subarray(0, data.length);
}

export function int64Values(data: Data): BigInt64Array {
  return (data.values as BigInt64Array).subarray(0, data.length);
}

/** Offsets of a list or utf8 column (length + 1 of them). */
export function columnOffsets(data: Data): Int32Array {
  return (data.valueOffsets as Int32Array).subarray(0, data.length + 1);
}

/** Whether row i of a nullable column holds a value. */
export function isValid(data: Data, index: number): boolean {
  return data.getValid(index);
}

/**
 * The shape both stage-1 readers share: an Arrow file of a known format and version read one record batch
 * (256 features) at a time. Subclasses decode and check a batch's rows.
 */
export abstract class BatchedFileReader<Row> {
  protected constructor(protected readonly file: OpenArrowFile) {}

  /** Opens `path`, refusing another format or version with a one-line error. */
  protected static async openVersioned(
    path: string,
    format: string,
    version: number,
    schema: Schema,
  ): Promise<OpenArrowFile> {
    const file = await openArrowFile(path, format, schema);
    if (file.format !== `${format}/${version}`) {
      await file.close();
      throw new ExpgenError(`${path} is in format ${file.format}; this version of expgen reads ${format}/${version}`);
    }
    return file;
  }

  get path(): string {
    return this.file.path;
  }

  get configHash(): string {
    return this.file.configHash;
  }

  /** Record batches; batch i holds features [256 i, 256 (i + 1)). */
  get batches(): number {
    return this.file.batches;
  }

  /** Every row of batch `index`. */
  abstract batchRows(index: number): Promise<Row[]>;

  /** Every row of the file, in file order, one batch in memory at a time. */
  async *rows(): AsyncGenerator<Row> {
    for (let index = 0; index < this.batches; index++) yield* await this.batchRows(index);
  }

  close(): Promise<void> {
    return this.file.close();
  }
}
