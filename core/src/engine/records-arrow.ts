import {
  Bool,
  Field,
  Float64,
  Int32,
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
 * Column kinds of small result tables (one row per feature and sign); `json` holds nested values as JSON text,
 * `struct` an object whose fields are the column's `fields` (a typed Arrow struct: pandas reads dicts, polars and
 * DuckDB struct fields).
 */
export type RecordColumnType = 'utf8' | 'int32' | 'float64' | 'bool' | 'float64-list' | 'utf8-list' | 'json' | 'struct';

export interface RecordColumn {
  readonly name: string;
  readonly type: RecordColumnType;
  /** A `struct` column's fields, each nullable. */
  readonly fields?: readonly RecordColumn[];
}

const ARROW_TYPES: Record<Exclude<RecordColumnType, 'struct'>, () => DataType> = {
  utf8: () => new Utf8(),
  json: () => new Utf8(),
  int32: () => new Int32(),
  float64: () => new Float64(),
  bool: () => new Bool(),
  'float64-list': () => new List(new Field('item', new Float64(), true)),
  'utf8-list': () => new List(new Field('item', new Utf8(), true)),
};

/**
 * Rows as an Arrow IPC *file* (Feather v2) that pandas, pyarrow and polars read directly: every column typed
 * explicitly and nullable, so a row whose value is missing holds null rather than changing the column's type. The
 * bytes depend only on the rows (no timestamps), so identical results give identical files.
 */
export function recordsToArrow(
  columns: readonly RecordColumn[],
  rows: readonly Readonly<Record<string, unknown>>[],
): Uint8Array {
  const vectors: Record<string, Vector> = {};
  for (const column of columns)
    vectors[column.name] = vectorFromArray(
      rows.map((row) => cellValue(column, row[column.name])),
      arrowType(column),
    );
  return tableToIPC(new Table(vectors), 'file');
}

function arrowType(column: RecordColumn): DataType {
  if (column.type !== 'struct') return ARROW_TYPES[column.type]();
  return new Struct((column.fields ?? []).map((f) => new Field(f.name, arrowType(f), true)));
}

/** A value as its column stores it: null for missing, JSON text for `json`, null for a non-finite float. */
function cellValue(column: RecordColumn, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (column.type === 'json') return JSON.stringify(value);
  if (column.type === 'float64' && typeof value === 'number' && !Number.isFinite(value)) return null;
  if (column.type === 'struct')
    return Object.fromEntries(
      (column.fields ?? []).map((f) => [f.name, cellValue(f, (value as Record<string, unknown>)[f.name])]),
    );
  return value;
}
