import { open, type FileHandle } from 'node:fs/promises';
import { ExpgenError, type ComponentContext, type DatasetSource } from '@expgen/contract';
import {
  parquetMetadataAsync,
  parquetReadObjects,
  parquetSchema,
  type AsyncBuffer,
  type FileMetaData,
  type SchemaElement,
  type SchemaTree,
} from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
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
 * Documents from parquet files (FineWeb's shards: text, id, dump, url, ...), one row group at a time: a shard of
 * several GB is never held in memory, only the requested columns of the row group being read.
 */
export function openParquetDataset(
  name: string,
  options: ColumnarOptions,
  context: ComponentContext,
): Promise<DatasetSource> {
  return openColumnarDataset(name, parquetFormat, options, context);
}

export const parquetFormat: ColumnarFormat = {
  name: 'parquet',
  extensions: ['.parquet'],
  open: openParquetFile,
};

/** Below this a file cannot hold parquet's opening magic, the footer length and the closing magic. */
const MIN_PARQUET_BYTES = 12;

async function openParquetFile(path: string): Promise<ColumnarFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new ExpgenError(`${path} cannot be opened (${reason(error)}): check that it exists and is readable`, {
      cause: error,
    });
  }
  try {
    const { size } = await handle.stat();
    if (size === 0)
      throw new ExpgenError(
        `${path} is empty (0 bytes): the download or the write that made it did not finish; fetch or write it again`,
      );
    const file = fileBuffer(handle, size, path);
    const head = new Uint8Array(await file.slice(0, Math.min(size, 64)));
    const magic = new TextDecoder().decode(head.subarray(0, 4));
    let metadata: FileMetaData;
    try {
      if (size < MIN_PARQUET_BYTES || magic !== 'PAR1')
        throw new Error('it does not start with the parquet magic bytes PAR1');
      metadata = await parquetMetadataAsync(file);
    } catch (error) {
      const looksLike = magic === 'PAR1' ? undefined : sniffFormat(head);
      throw new ExpgenError(
        `${path} is not a readable parquet file (${reason(error)})` +
          (looksLike ? `: it looks like ${looksLike}` : ': it is damaged or was cut short; download or write it again'),
        { cause: error },
      );
    }
    return parquetFile(path, handle, file, metadata);
  } catch (error) {
    await handle.close();
    throw error;
  }
}

function parquetFile(path: string, handle: FileHandle, file: AsyncBuffer, metadata: FileMetaData): ColumnarFile {
  const columns = new Map<string, ColumnInfo>(
    parquetSchema(metadata).children.map((node) => [node.element.name, columnInfo(node)]),
  );
  return {
    columns,
    async *records(selected, signal) {
      let groupStart = 0;
      for (const [g, group] of metadata.row_groups.entries()) {
        const rows = Number(group.num_rows);
        const rowEnd = groupStart + rows;
        if (rows > 0) {
          signal?.throwIfAborted();
          let records: Record<string, unknown>[];
          try {
            records = await parquetReadObjects({
              file,
              metadata,
              columns: [...selected],
              rowStart: groupStart,
              rowEnd,
              compressors,
              // Strict decoding: invalid UTF-8 becomes InvalidUtf8 for the record mapping to report with its row,
              // instead of the default decoder's silent U+FFFD. `bytes` is undefined for a null value.
              parsers: { stringFromBytes: (bytes: Uint8Array | undefined) => bytes && decodeUtf8Strict(bytes) },
            });
          } catch (error) {
            throw new ExpgenError(
              `${path}: row group ${g} (${rows === 1 ? `row ${groupStart}` : `rows ${groupStart}-${rowEnd - 1}`}) cannot be read (${reason(error)}): ` +
                'the file is damaged or uses a feature this reader lacks; download it again, or rewrite it with pyarrow (pyarrow.parquet.write_table)',
              { cause: error },
            );
          }
          for (let r = 0; r < records.length; r++) {
            yield { record: records[r]!, where: `${path}: row group ${g}, row ${groupStart + r}` };
          }
        }
        groupStart = rowEnd;
      }
    },
    close: () => handle.close(),
  };
}

/**
 * hyparquet's view of a file: byte ranges read on demand with positional reads on one open handle, so only the
 * footer and the column chunks of the row group being read are ever in memory.
 */
function fileBuffer(handle: FileHandle, size: number, path: string): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end: number = size): Promise<ArrayBuffer> {
      const length = Math.max(0, Math.min(end, size) - start);
      const bytes = new Uint8Array(length);
      for (let filled = 0; filled < length; ) {
        const { bytesRead } = await handle.read(bytes, filled, length - filled, start + filled);
        if (bytesRead === 0)
          throw new Error(`${path} ended at byte ${start + filled} of ${size}: it changed while being read`);
        filled += bytesRead;
      }
      return bytes.buffer;
    },
  };
}

/** A top-level column as the column checks need it. Strings are BYTE_ARRAY, unannotated or annotated as text. */
function columnInfo(node: SchemaTree): ColumnInfo {
  const element = node.element;
  const annotation = element.logical_type?.type ?? element.converted_type;
  if (node.children.length > 0) {
    const list = annotation === 'LIST' || element.repetition_type === 'REPEATED';
    return { type: list ? 'LIST' : annotation === 'MAP' ? 'MAP' : 'struct', string: false, integer: false, list };
  }
  const string =
    element.type === 'BYTE_ARRAY' &&
    (annotation === undefined || annotation === 'STRING' || annotation === 'UTF8' || annotation === 'ENUM');
  const integer = (element.type === 'INT32' || element.type === 'INT64') && isPlainInteger(element);
  return { type: describeElement(element), string, integer, list: false };
}

function isPlainInteger(element: SchemaElement): boolean {
  const logical = element.logical_type;
  if (logical) return logical.type === 'INTEGER';
  return element.converted_type === undefined || /^U?INT_/.test(element.converted_type);
}

function describeElement(element: SchemaElement): string {
  const annotation = element.logical_type?.type ?? element.converted_type;
  return annotation ? `${element.type ?? 'untyped'} (${annotation})` : (element.type ?? 'untyped');
}
