import {
  Bool,
  Field,
  Float64,
  Int32,
  Int64,
  List,
  Struct,
  Table,
  Utf8,
  tableToIPC,
  vectorFromArray,
  type DataType,
  type Vector,
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

/**
 * A value as the Arrow builder of `type` takes it: missing values (absent, null, and NaN or infinite floats) become
 * null, `json` values JSON text, int64 values BigInt, and structs exactly their declared fields.
 */
function arrowValue(type: RecordColumnType, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (typeof type === 'object') {
    if ('list' in type) {
      if (!Array.isArray(value) && !ArrayBuffer.isView(value))
        throw new TypeError(`a list column got ${JSON.stringify(value)}`);
      return Array.from(value as ArrayLike<unknown>, (item) => arrowValue(type.list, item));
    }
    if (typeof value !== 'object') throw new TypeError(`a struct column got ${JSON.stringify(value)}`);
    const record = value as Record<string, unknown>;
    return Object.fromEntries(type.struct.map((c) => [c.name, arrowValue(c.type, record[c.name])]));
  }
  switch (type) {
    case 'json':
      return JSON.stringify(value);
    case 'float64':
      return typeof value === 'number' && !Number.isFinite(value) ? null : value;
    case 'int64':
      return typeof value === 'bigint' ? value : BigInt(value as number);
    case 'float64-list':
      return arrowValue({ list: 'float64' }, value);
    case 'utf8-list':
      return arrowValue({ list: 'utf8' }, value);
    default:
      return value;
  }
}

/**
 * Rows as an Arrow IPC *file* (Feather v2) that pandas, pyarrow, polars and DuckDB read directly: every column
 * typed explicitly and nullable, nested records as structs and lists (so readers see columns, not text to parse),
 * and a row whose value is missing holds null rather than changing the column's type. `metadata` goes into the
 * schema (expgen writes `expgen.format` and `expgen.version`). The bytes depend only on the rows and the metadata
 * (no timestamps), so identical results give identical files.
 */
export function recordsToArrow(
  columns: readonly RecordColumn[],
  rows: readonly Readonly<Record<string, unknown>>[],
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const vectors: Record<string, Vector> = {};
  for (const column of columns) {
    const values = rows.map((row) => {
      try {
        return arrowValue(column.type, row[column.name]);
      } catch (error) {
        throw new TypeError(`column "${column.name}": ${(error as Error).message}`);
      }
    });
    vectors[column.name] = vectorFromArray(values, arrowType(column.type));
  }
  const table = new Table(vectors);
  for (const [key, value] of Object.entries(metadata)) table.schema.metadata.set(key, value);
  return tableToIPC(table, 'file');
}
