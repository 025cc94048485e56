import { ExpgenError, s, type ComponentContext, type DatasetSource, type SourceDocument } from '@expgen/contract';
import { resolveDatasetFiles } from './dataset-files.js';
import { recordToDocument, type RecordFields } from './record-document.js';

/** Options shared by the columnar formats (parquet, Arrow IPC): which columns hold the text, the id, the conversation. */
export interface ColumnarOptions {
  path: string;
  textColumn: string;
  idColumn: string | null;
  messagesColumn: string | null;
}

/** The options schema of a columnar dataset component; `what` names the files in the path's description. */
export function columnarOptionsSchema(what: string) {
  return s.object({
    path: s
      .string({ nonEmpty: true })
      .describe(
        `A ${what} file, or a folder of them read in name order (e.g. FineWeb's sample-10BT/); relative to the config file.`,
      ),
    textColumn: s
      .string({ nonEmpty: true })
      .default('text')
      .describe('Column holding the document text (a string column); unused when messagesColumn is set.'),
    idColumn: s
      .string({ nonEmpty: true })
      .nullable()
      .default('id')
      .describe(
        'Column holding a stable document id (string or integer); when the file has no such column, or this is null, the id is a hash of the content.',
      ),
    messagesColumn: s
      .string({ nonEmpty: true })
      .nullable()
      .default(null)
      .describe(
        'Column holding conversations, a list of {role, content} structs (LMSYS-Chat: conversation); when set, documents are conversations and textColumn is not read.',
      ),
  });
}

/** What a column holds, as far as choosing it for text, ids or conversations goes. */
export interface ColumnInfo {
  /** The type as the format names it, for error messages (`INT64`, `Utf8`, `List<Struct<...>>`). */
  readonly type: string;
  readonly string: boolean;
  readonly integer: boolean;
  /** A list (of structs, checked row by row): a candidate conversation column. */
  readonly list: boolean;
}

/** One opened file of a columnar format. */
export interface ColumnarFile {
  /** Every top-level column, in the file's order. */
  readonly columns: ReadonlyMap<string, ColumnInfo>;
  /**
   * The records of the file in order, holding only `columns`. Strings come decoded strictly (invalid UTF-8 as
   * `InvalidUtf8`); `where` names the record in errors. Reads a bounded part of the file at a time.
   */
  records(
    columns: readonly string[],
    signal?: AbortSignal,
  ): AsyncIterable<{ readonly record: Readonly<Record<string, unknown>>; readonly where: string }>;
  close(): Promise<void>;
}

export interface ColumnarFormat {
  /** Human name: `parquet`, `Arrow IPC`. */
  readonly name: string;
  /** File name endings a folder is searched for. */
  readonly extensions: readonly string[];
  /** Opens one file, checking that it is what it claims to be; errors name the file and say what to do. */
  open(file: string): Promise<ColumnarFile>;
}

/**
 * A dataset over one columnar file or a folder of shards. The file list is fixed when the dataset is created, so
 * every pass reads the same files in the same order; the first file is opened and checked then, so a wrong path
 * or column name fails before the run starts instead of minutes into it.
 */
export async function openColumnarDataset(
  name: string,
  format: ColumnarFormat,
  options: ColumnarOptions,
  context: ComponentContext,
): Promise<DatasetSource> {
  const { path, files } = await resolveDatasetFiles(name, options.path, context.baseDir, format);
  const first = await format.open(files[0]!);
  try {
    const plan = planColumns(first, files[0]!, options);
    if (options.idColumn !== null && !plan.hasId) {
      context.logger.info(
        `dataset "${name}": ${files[0]} has no column "${options.idColumn}": document ids are content hashes (set idColumn to null to say so, or to the column that holds ids)`,
      );
    }
  } finally {
    await first.close();
  }
  return {
    provenance: {
      ...context.provenance,
      settings: {
        path,
        files: files.length,
        textColumn: options.textColumn,
        idColumn: options.idColumn,
        messagesColumn: options.messagesColumn,
      },
    },
    name,
    async *documents({ signal }: { signal?: AbortSignal } = {}): AsyncGenerator<SourceDocument> {
      for (const file of files) {
        signal?.throwIfAborted();
        const opened = await format.open(file);
        try {
          const plan = planColumns(opened, file, options);
          for await (const { record, where } of opened.records(plan.columns, signal)) {
            yield recordToDocument(record, plan.fields, where);
          }
        } finally {
          // Also runs when the consumer stops early (break, take(n)): the file handle never outlives the pass.
          await opened.close();
        }
      }
    },
  };
}

/**
 * Which columns of `file` to read, checked against its schema: text (or conversations) must be there with a usable
 * type; the id column is optional, since many corpora have none.
 */
export function planColumns(
  file: ColumnarFile,
  path: string,
  options: ColumnarOptions,
): { columns: string[]; fields: RecordFields; hasId: boolean } {
  const columnList = () => [...file.columns.keys()].join(', ') || 'none';
  const need = (column: string, option: string): ColumnInfo => {
    const info = file.columns.get(column);
    if (!info)
      throw new ExpgenError(
        `${path} has no column "${column}" (its columns: ${columnList()}): set the dataset's ${option} option to one of them`,
      );
    return info;
  };
  const columns: string[] = [];
  if (options.messagesColumn !== null) {
    const info = need(options.messagesColumn, 'messagesColumn');
    if (!info.list) {
      throw new ExpgenError(
        `${path}: column "${options.messagesColumn}" holds ${info.type} values, not a list of {role, content} structs: set messagesColumn to the conversation column, or to null to read textColumn`,
      );
    }
    columns.push(options.messagesColumn);
  } else {
    const info = need(options.textColumn, 'textColumn');
    if (!info.string) {
      throw new ExpgenError(
        `${path}: column "${options.textColumn}" holds ${info.type} values, not strings: set textColumn to the column holding the document text`,
      );
    }
    columns.push(options.textColumn);
  }
  const idInfo = options.idColumn === null ? undefined : file.columns.get(options.idColumn);
  if (idInfo && !idInfo.string && !idInfo.integer) {
    throw new ExpgenError(
      `${path}: column "${options.idColumn}" holds ${idInfo.type} values; ids must be strings or integers: set idColumn to another column, or to null for content-hash ids`,
    );
  }
  if (idInfo && !columns.includes(options.idColumn!)) columns.push(options.idColumn!);
  return {
    columns,
    hasId: idInfo !== undefined,
    fields: {
      text: options.messagesColumn === null ? options.textColumn : null,
      messages: options.messagesColumn,
      id: idInfo ? options.idColumn : null,
      noun: 'column',
    },
  };
}

/** An error's message for inclusion in ours: without the trailing period some libraries end theirs with. */
export function reason(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\.+$/, '');
}

/**
 * What a file that fails to open as `expected` looks like instead, from its first bytes, for the error message:
 * the usual cause is a Git LFS pointer or a file of another format, not damage.
 */
export function sniffFormat(head: Uint8Array): string | undefined {
  const text = new TextDecoder().decode(head.subarray(0, 64));
  if (text.startsWith('version https://git-lfs'))
    return 'a Git LFS pointer, not the data: run `git lfs pull` in the dataset repository, or download the file itself';
  if (text.startsWith('PAR1')) return 'a parquet file: use the parquet dataset component';
  if (text.startsWith('ARROW1')) return 'an Arrow IPC file: use the arrow dataset component';
  if (text.startsWith('FEA1'))
    return 'a Feather v1 file, which this reader does not take: rewrite it as Feather v2 (pyarrow.feather.write_feather(table, path, version=2))';
  if (/^\s*[{[]/.test(text)) return 'JSON text: use the jsonl dataset component for JSON Lines';
  if (head.length >= 4 && head[0] === 0x1f && head[1] === 0x8b) return 'a gzip archive: decompress it first';
  return undefined;
}
