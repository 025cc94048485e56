import {
  Bool,
  Field,
  Float64,
  Int32,
  Int64,
  List,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  Utf8,
  tableToIPC,
  type Data,
  type DataType,
} from 'apache-arrow';

/**
 * The type of a column of a small output table (one row per feature and sign): a scalar, a list of a type, or a
 * struct of named columns, nested as deep as the record is. `json` is the one escape hatch, for an open map whose
 * keys a plugin chooses (a component's `settings`): its value is written as JSON text. `float64-list` and
 * `utf8-list` are shorthands for `{ list: 'float64' }` and `{ list: 'utf8' }`.
 */
export type RecordColumnType =
  | 'utf8'
  | 'int32'
  | 'int64'
  | 'float64'
  | 'bool'
  | 'json'
  | 'float64-list'
  | 'utf8-list'
  | { readonly list: RecordColumnType }
  | { readonly struct: readonly RecordColumn[] };

export interface RecordColumn {
  readonly name: string;
  readonly type: RecordColumnType;
}

/**
 * Rows per record batch. Batches bound the memory of one build and keep every utf8 column's int32 offsets far from
 * 2^31 bytes (a candidates file of Llama-3.1-8B holds 46 million descriptions); the bytes still depend only on the
 * rows.
 */
const ROWS_PER_BATCH = 65_536;

/**
 * Rows as an Arrow IPC *file* (Feather v2) that pandas, pyarrow, polars and DuckDB read directly: every column
 * typed explicitly and nullable, nested records as structs and lists (so readers see columns, not text to parse),
 * and a row whose value is missing holds null rather than changing the column's type. Missing values are absent
 * or null ones, and NaN or infinite floats. `metadata` goes into the schema (expgen writes `expgen.format` and
 * `expgen.version`). The bytes depend only on the rows and the metadata (no timestamps), so identical results give
 * identical files. Columns are built straight into Arrow buffers, a whole column at a time.
 */
export function recordsToArrow(
  columns: readonly RecordColumn[],
  rows: readonly Readonly<Record<string, unknown>>[],
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const fields = columns.map((c) => new Field(c.name, arrowType(c.type), true));
  const schema = new Schema(fields, new Map(Object.entries(metadata)));
  const batches: RecordBatch[] = [];
  for (let start = 0; start === 0 || start < rows.length; start += ROWS_PER_BATCH) {
    const slice = rows.slice(start, start + ROWS_PER_BATCH);
    const children = columns.map((column) => {
      try {
        return columnData(
          column.type,
          fields.find((f) => f.name === column.name)!.type,
          slice.map((row) => row[column.name]),
        );
      } catch (error) {
        throw new TypeError(`column "${column.name}": ${(error as Error).message}`);
      }
    });
    batches.push(
      new RecordBatch(schema, makeData({ type: new Struct(fields), length: slice.length, nullCount: 0, children })),
    );
  }
  return tableToIPC(new Table(schema, batches), 'file');
}

function arrowType(type: RecordColumnType): DataType {
  if (typeof type === 'object')
    return 'list' in type
      ? new List(new Field('item', arrowType(type.list), true))
      : new Struct(type.struct.map((c) => new Field(c.name, arrowType(c.type), true)));
  switch (type) {
    case 'utf8':
    case 'json':
      return new Utf8();
    case 'int32':
      return new Int32();
    case 'int64':
      return new Int64();
    case 'float64':
      return new Float64();
    case 'bool':
      return new Bool();
    case 'float64-list':
      return arrowType({ list: 'float64' });
    case 'utf8-list':
      return arrowType({ list: 'utf8' });
  }
}

/** One column's values (one per row, `undefined` or null where missing) as Arrow data of `type`. */
function columnData(type: RecordColumnType, arrow: DataType, values: readonly unknown[]): Data {
  const length = values.length;
  if (type === 'float64-list') return columnData({ list: 'float64' }, arrow, values);
  if (type === 'utf8-list') return columnData({ list: 'utf8' }, arrow, values);
  if (typeof type === 'object' && 'list' in type) {
    const offsets = new Int32Array(length + 1);
    const items: unknown[] = [];
    const present = presence(values, (v) => {
      if (!Array.isArray(v) && !ArrayBuffer.isView(v)) throw new TypeError(`a list column got ${JSON.stringify(v)}`);
      return true;
    });
    values.forEach((v, i) => {
      if (present[i]) {
        const list = v as ArrayLike<unknown>;
        for (let j = 0; j < list.length; j++) items.push(list[j]);
      }
      offsets[i + 1] = items.length;
    });
    const child = columnData(type.list, (arrow as List).children[0]!.type, items);
    return makeData({ type: arrow as List, length, valueOffsets: offsets, child, ...validity(present) });
  }
  if (typeof type === 'object') {
    const present = presence(values, (v) => {
      if (typeof v !== 'object') throw new TypeError(`a struct column got ${JSON.stringify(v)}`);
      return true;
    });
    const children = type.struct.map((c, k) =>
      columnData(
        c.type,
        (arrow as Struct).children[k]!.type,
        values.map((v, i) => (present[i] ? (v as Record<string, unknown>)[c.name] : null)),
      ),
    );
    return makeData({ type: arrow as Struct, length, children, ...validity(present) });
  }
  switch (type) {
    case 'utf8':
    case 'json': {
      const texts = values.map((v) => (v === undefined || v === null ? null : type === 'json' ? JSON.stringify(v) : v));
      const present = presence(texts, (v) => {
        if (typeof v !== 'string') throw new TypeError(`a utf8 column got ${JSON.stringify(v)}`);
        return true;
      });
      const offsets = new Int32Array(length + 1);
      let bytes = 0;
      texts.forEach((t, i) => {
        if (present[i]) bytes += Buffer.byteLength(t as string);
        if (bytes > 0x7fffffff) throw new RangeError('more than 2 GiB of text in one record batch');
        offsets[i + 1] = bytes;
      });
      const data = Buffer.alloc(bytes);
      texts.forEach((t, i) => {
        if (present[i]) data.write(t as string, offsets[i]!, 'utf8');
      });
      return makeData({
        type: arrow as Utf8,
        length,
        valueOffsets: offsets,
        data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        ...validity(present),
      });
    }
    case 'float64': {
      const data = new Float64Array(length);
      const present = presence(values, (v) => {
        if (typeof v !== 'number') throw new TypeError(`a float64 column got ${JSON.stringify(v)}`);
        return Number.isFinite(v);
      });
      values.forEach((v, i) => {
        if (present[i]) data[i] = v as number;
      });
      return makeData({ type: arrow as Float64, length, data, ...validity(present) });
    }
    case 'int32':
    case 'int64': {
      const data = type === 'int32' ? new Int32Array(length) : new BigInt64Array(length);
      const present = presence(values, (v) => {
        if (!Number.isInteger(v) && typeof v !== 'bigint')
          throw new TypeError(`an integer column got ${JSON.stringify(v)}`);
        return true;
      });
      values.forEach((v, i) => {
        if (!present[i]) return;
        if (data instanceof BigInt64Array) data[i] = BigInt(v as number | bigint);
        else data[i] = v as number;
      });
      return makeData({ type: arrow as Int32, length, data: data as Int32Array, ...validity(present) });
    }
    case 'bool': {
      const data = new Uint8Array((length + 7) >> 3);
      const present = presence(values, (v) => {
        if (typeof v !== 'boolean') throw new TypeError(`a bool column got ${JSON.stringify(v)}`);
        return true;
      });
      values.forEach((v, i) => {
        if (present[i] && v) data[i >> 3]! |= 1 << (i & 7);
      });
      return makeData({ type: arrow as Bool, length, data, ...validity(present) });
    }
  }
}

/** Which values are present: not undefined or null, and accepted by `check` (which throws on a wrong type). */
function presence(values: readonly unknown[], check: (value: unknown) => boolean): Uint8Array {
  const present = new Uint8Array(values.length);
  values.forEach((v, i) => {
    if (v !== undefined && v !== null && check(v)) present[i] = 1;
  });
  return present;
}

/** The validity bitmap of `present` (bit set = value present), or none when every value is. */
function validity(present: Uint8Array): { nullBitmap?: Uint8Array; nullCount: number } {
  let nulls = 0;
  for (const p of present) if (!p) nulls++;
  if (nulls === 0) return { nullCount: 0 };
  const bitmap = new Uint8Array((present.length + 7) >> 3);
  present.forEach((p, i) => {
    if (p) bitmap[i >> 3]! |= 1 << (i & 7);
  });
  return { nullBitmap: bitmap, nullCount: nulls };
}
