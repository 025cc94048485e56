import { open, type FileHandle } from 'node:fs/promises';
import { ExpgenError, type ComponentContext, type DatasetSource } from '@expgen/contract';
import {
  DataType,
  makeVector,
  RecordBatchReader,
  type Data,
  type Field,
  type RecordBatch,
  type Vector,
} from 'apache-arrow';
import { registerArrowCodecs } from './arrow-codecs.js';
import {
  openColumnarDataset,
  reason,
  sniffFormat,
  type ColumnarFile,
  type ColumnarFormat,
  type ColumnInfo,
  type ColumnarOptions,
} from './columnar-dataset.js';
import { decodeUtf8Strict } from './record-document.js';

/**
 * Documents from Arrow IPC data: the file format (Feather v2, `.arrow`/`.feather`) and the stream format
 * (`.arrows`, and the `.arrow` files of a Hugging Face `datasets` cache). Either is read one record batch at a
 * time from an open file handle: the file format by seeking to each batch its footer lists, the stream format by
 * reading on, so memory holds one batch, never the whole file.
 */
export function openArrowDataset(
  name: string,
  options: ColumnarOptions,
  context: ComponentContext,
): Promise<DatasetSource> {
  return openColumnarDataset(name, arrowFormat, options, context);
}

export const arrowFormat: ColumnarFormat = {
  name: 'Arrow IPC',
  extensions: ['.arrow', '.arrows', '.feather', '.ipc'],
  open: openArrowFile,
};

type BatchReader = Awaited<ReturnType<typeof readerFor>>;

/** A file handle goes to apache-arrow's random-access readers; a Node stream would be read whole for the file format. */
function readerFor(handle: FileHandle) {
  return RecordBatchReader.from(handle);
}

async function openArrowFile(path: string): Promise<ColumnarFile> {
  registerArrowCodecs();
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new ExpgenError(`${path} cannot be opened (${reason(error)}): check that it exists and is readable`, {
      cause: error,
    });
  }
  let reader: BatchReader | undefined;
  const close = async () => {
    // cancel() closes the handle through apache-arrow's file wrapper; closing it again is then a no-op.
    await reader?.cancel();
    await handle.close().catch(() => undefined);
  };
  try {
    const { size } = await handle.stat();
    if (size === 0)
      throw new ExpgenError(
        `${path} is empty (0 bytes): the download or the write that made it did not finish; fetch or write it again`,
      );
    const head = new Uint8Array(Math.min(size, 64));
    await handle.read(head, 0, head.length, 0);
    const notArrow = (detail: string, cause?: unknown) => {
      const looksLike = sniffFormat(head);
      return new ExpgenError(
        `${path} is not a readable Arrow IPC file or stream (${detail})` +
          (looksLike && !looksLike.startsWith('an Arrow')
            ? `: it looks like ${looksLike}`
            : ': it is damaged or was cut short; download or write it again'),
        cause === undefined ? {} : { cause },
      );
    };
    // A Feather v1 file or a Git LFS pointer read as an IPC stream gives apache-arrow's confusing errors, or none.
    const fileFormat = new TextDecoder().decode(head.subarray(0, 6)) === 'ARROW1';
    if (sniffFormat(head) && !fileFormat) throw notArrow('unexpected first bytes');
    if (fileFormat) {
      // The file format ends with its footer and the magic again; a copy cut short has lost both.
      const tail = new Uint8Array(6);
      await handle.read(tail, 0, 6, Math.max(0, size - 6));
      if (new TextDecoder().decode(tail) !== 'ARROW1')
        throw notArrow("it starts as an Arrow IPC file but does not end with one's closing ARROW1 bytes");
    }
    try {
      reader = await readerFor(handle);
      await reader.open({ autoDestroy: false });
    } catch (error) {
      throw notArrow(reason(error), error);
    }
    if (!reader.schema) throw notArrow('no schema message at its start');
    return arrowFile(path, reader, close);
  } catch (error) {
    await close();
    throw error;
  }
}

function arrowFile(path: string, reader: BatchReader, close: () => Promise<void>): ColumnarFile {
  const columns = new Map<string, ColumnInfo>(
    reader.schema.fields.map((field: Field) => [field.name, columnInfo(field.type)]),
  );
  return {
    columns,
    async *records(selected, signal) {
      let rowStart = 0;
      let index = 0;
      const iterator = reader[Symbol.asyncIterator]();
      for (;;) {
        signal?.throwIfAborted();
        let next: IteratorResult<RecordBatch>;
        try {
          next = await iterator.next();
        } catch (error) {
          throw new ExpgenError(
            `${path}: record batch ${index} cannot be read (${reason(error)}): the file is damaged or cut short; download or write it again`,
            { cause: error },
          );
        }
        if (next.done) break;
        const batch = next.value;
        const vectors = selected.map((name) => batch.getChild(name) as Vector | null);
        for (let r = 0; r < batch.numRows; r++) {
          const record: Record<string, unknown> = {};
          selected.forEach((name, c) => {
            record[name] = vectors[c] ? vectorValue(vectors[c]!, r) : undefined;
          });
          yield { record, where: `${path}: record batch ${index}, row ${rowStart + r}` };
        }
        rowStart += batch.numRows;
        // An empty stream yields one placeholder batch of no rows; it is not a batch of the file.
        if (batch.numRows > 0 || reader.isFile()) index++;
      }
      // The file format's reader ends quietly when a batch its footer lists cannot be reached (a truncated copy).
      if (reader.isFile() && index < reader.numRecordBatches) {
        throw new ExpgenError(
          `${path}: only ${index} of the ${reader.numRecordBatches} record batches its footer lists could be read: the file is damaged; download or write it again`,
        );
      }
    },
    close,
  };
}

/** A top-level column as the column checks need it. */
function columnInfo(type: DataType): ColumnInfo {
  const value = DataType.isDictionary(type) ? type.dictionary : type;
  return {
    type: String(type),
    string: DataType.isUtf8(value) || DataType.isLargeUtf8(value) || DataType.isUtf8View(value),
    integer: DataType.isInt(value),
    list: DataType.isList(type) || DataType.isLargeList(type),
  };
}

function vectorValue(vector: Vector, index: number): unknown {
  for (const data of vector.data) {
    if (index < data.length) return dataValue(data, index);
    index -= data.length;
  }
  return undefined;
}

/**
 * A value as a plain JS value: strings decoded strictly (`InvalidUtf8` for bad bytes, where apache-arrow's
 * `get` would substitute U+FFFD), lists as arrays, structs as objects. Other types (integers as number or
 * bigint, Utf8View, ...) come from apache-arrow's own accessors.
 */
function dataValue(data: Data, index: number): unknown {
  if (!data.getValid(index)) return null;
  const type = data.type;
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type)) {
    const offsets = data.valueOffsets as Int32Array | BigInt64Array;
    return decodeUtf8Strict((data.values as Uint8Array).subarray(Number(offsets[index]), Number(offsets[index + 1])));
  }
  if (DataType.isDictionary(type))
    return vectorValue(data.dictionary!, Number((data.values as ArrayLike<number | bigint>)[index]));
  if (DataType.isList(type) || DataType.isLargeList(type)) {
    const offsets = data.valueOffsets as Int32Array | BigInt64Array;
    const child = data.children[0]!;
    const items: unknown[] = [];
    for (let j = Number(offsets[index]); j < Number(offsets[index + 1]); j++) items.push(dataValue(child, j));
    return items;
  }
  if (DataType.isStruct(type)) {
    const object: Record<string, unknown> = {};
    type.children.forEach((field: Field, k: number) => {
      object[field.name] = dataValue(data.children[k]!, index);
    });
    return object;
  }
  return makeVector(data).get(index);
}
