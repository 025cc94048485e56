/**
 * A minimal parquet writer for this package's tests and fixtures only: the product reads parquet and never writes
 * it, and no parquet writer is a dependency. It writes what FineWeb- and LMSYS-shaped files need: optional string,
 * int64 and double columns, and a conversation column (list<struct<role, content>> in the standard three-level LIST
 * layout), as PLAIN-encoded v1 data pages, one page per column chunk, with a choice of compression per file.
 *
 * The footer is Thrift compact protocol (https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md),
 * written with the few field types parquet metadata uses.
 */

export type ParquetColumn =
  | { readonly name: string; readonly type: 'string'; readonly values: readonly (string | Uint8Array | null)[] }
  | { readonly name: string; readonly type: 'int64'; readonly values: readonly (bigint | number | null)[] }
  | { readonly name: string; readonly type: 'double'; readonly values: readonly (number | null)[] }
  | {
      readonly name: string;
      readonly type: 'messages';
      readonly values: readonly ({ role: string; content: string }[] | null)[];
    };

/** Codec ids of parquet's CompressionCodec enum, with the function that compresses one page for it. */
export interface PageCodec {
  readonly id: number;
  compress(page: Uint8Array): Uint8Array;
}

export const UNCOMPRESSED: PageCodec = { id: 0, compress: (page) => page };

export interface WriteParquetOptions {
  /** Rows per row group; the last group may be shorter (default: all rows in one group). */
  readonly rowGroupSize?: number;
  /** Compression of every page (default: none). */
  readonly codec?: PageCodec;
}

// Thrift compact protocol element types.
const T = { I32: 5, I64: 6, DOUBLE: 7, BINARY: 8, LIST: 9, STRUCT: 12 } as const;
// Parquet enums.
const TYPE = { INT64: 2, DOUBLE: 5, BYTE_ARRAY: 6 } as const;
const REPETITION = { REQUIRED: 0, OPTIONAL: 1, REPEATED: 2 } as const;
const CONVERTED = { UTF8: 0, LIST: 3 } as const;
const ENCODING = { PLAIN: 0, RLE: 3 } as const;

export function writeParquet(columns: readonly ParquetColumn[], options: WriteParquetOptions = {}): Uint8Array {
  const rows = columns[0]?.values.length ?? 0;
  for (const c of columns)
    if (c.values.length !== rows) throw new Error(`column ${c.name} has ${c.values.length} values, not ${rows}`);
  const codec = options.codec ?? UNCOMPRESSED;
  const groupSize = Math.max(1, options.rowGroupSize ?? rows);
  const out = new ByteWriter();
  out.bytes(ascii('PAR1'));
  const rowGroups: Field[][] = [];
  for (let start = 0; start < rows || (rows === 0 && start === 0); start += groupSize) {
    const end = Math.min(rows, start + groupSize);
    const chunks: Field[][] = [];
    let groupBytes = 0;
    for (const column of columns) {
      for (const leaf of leaves(column, start, end)) {
        const offset = out.length;
        const body = concat([...leaf.levels, leaf.values]);
        const compressed = codec.compress(body);
        const header = struct([
          [1, T.I32, 0], // DATA_PAGE
          [2, T.I32, body.length],
          [3, T.I32, compressed.length],
          [
            5,
            T.STRUCT,
            [
              [1, T.I32, leaf.count],
              [2, T.I32, ENCODING.PLAIN],
              [3, T.I32, ENCODING.RLE],
              [4, T.I32, ENCODING.RLE],
            ],
          ],
        ]);
        out.bytes(header);
        out.bytes(compressed);
        const written = out.length - offset;
        groupBytes += written;
        chunks.push([
          [2, T.I64, offset],
          [
            3,
            T.STRUCT,
            [
              [1, T.I32, leaf.physical],
              [2, T.LIST, { type: T.I32, items: [ENCODING.PLAIN, ENCODING.RLE] }],
              [3, T.LIST, { type: T.BINARY, items: leaf.path }],
              [4, T.I32, codec.id],
              [5, T.I64, leaf.count],
              [6, T.I64, header.length + body.length],
              [7, T.I64, written],
              [9, T.I64, offset],
            ],
          ],
        ]);
      }
    }
    rowGroups.push([
      [1, T.LIST, { type: T.STRUCT, items: chunks }],
      [2, T.I64, groupBytes],
      [3, T.I64, end - start],
    ]);
    if (rows === 0) break;
  }
  const footer = struct([
    [1, T.I32, 1],
    [2, T.LIST, { type: T.STRUCT, items: schema(columns) }],
    [3, T.I64, rows],
    [4, T.LIST, { type: T.STRUCT, items: rowGroups }],
    [6, T.BINARY, 'expgen test writer'],
  ]);
  out.bytes(footer);
  out.u32(footer.length);
  out.bytes(ascii('PAR1'));
  return out.result();
}

function schema(columns: readonly ParquetColumn[]): Field[][] {
  const elements: Field[][] = [
    [
      [4, T.BINARY, 'schema'],
      [5, T.I32, columns.length],
    ],
  ];
  const leaf = (name: string, type: number, repetition: number, converted?: number): Field[] => [
    [1, T.I32, type],
    [3, T.I32, repetition],
    [4, T.BINARY, name],
    ...(converted === undefined ? [] : [[6, T.I32, converted] as Field]),
  ];
  for (const c of columns) {
    if (c.type === 'string') elements.push(leaf(c.name, TYPE.BYTE_ARRAY, REPETITION.OPTIONAL, CONVERTED.UTF8));
    else if (c.type === 'int64') elements.push(leaf(c.name, TYPE.INT64, REPETITION.OPTIONAL));
    else if (c.type === 'double') elements.push(leaf(c.name, TYPE.DOUBLE, REPETITION.OPTIONAL));
    else {
      // <name> (optional group, LIST) > list (repeated group) > element (optional group) > role, content.
      elements.push([
        [3, T.I32, REPETITION.OPTIONAL],
        [4, T.BINARY, c.name],
        [5, T.I32, 1],
        [6, T.I32, CONVERTED.LIST],
      ]);
      elements.push([
        [3, T.I32, REPETITION.REPEATED],
        [4, T.BINARY, 'list'],
        [5, T.I32, 1],
      ]);
      elements.push([
        [3, T.I32, REPETITION.OPTIONAL],
        [4, T.BINARY, 'element'],
        [5, T.I32, 2],
      ]);
      elements.push(leaf('role', TYPE.BYTE_ARRAY, REPETITION.OPTIONAL, CONVERTED.UTF8));
      elements.push(leaf('content', TYPE.BYTE_ARRAY, REPETITION.OPTIONAL, CONVERTED.UTF8));
    }
  }
  return elements;
}

interface Leaf {
  readonly path: string[];
  readonly physical: number;
  /** Level sections of the page, each already length-prefixed. */
  readonly levels: Uint8Array[];
  readonly values: Uint8Array;
  /** Level entries (values plus nulls and empty lists). */
  readonly count: number;
}

function leaves(column: ParquetColumn, start: number, end: number): Leaf[] {
  const values = column.values.slice(start, end);
  if (column.type !== 'messages') {
    const present = values.filter((v) => v !== null);
    const plain = new ByteWriter();
    for (const v of present) {
      if (column.type === 'string') {
        const bytes = typeof v === 'string' ? new TextEncoder().encode(v) : (v as Uint8Array);
        plain.u32(bytes.length);
        plain.bytes(bytes);
      } else if (column.type === 'int64') plain.i64(BigInt(v as bigint | number));
      else plain.f64(v as number);
    }
    const physical = column.type === 'string' ? TYPE.BYTE_ARRAY : column.type === 'int64' ? TYPE.INT64 : TYPE.DOUBLE;
    return [
      {
        path: [column.name],
        physical,
        levels: [
          levels(
            values.map((v) => (v === null ? 0 : 1)),
            1,
          ),
        ],
        values: plain.result(),
        count: values.length,
      },
    ];
  }
  // Repetition level 1 starts another message of the same row; definition levels: 0 null list, 1 empty list,
  // 2 null element, 3 element with a null field, 4 a value.
  return (['role', 'content'] as const).map((part) => {
    const rep: number[] = [];
    const def: number[] = [];
    const plain = new ByteWriter();
    for (const conversation of values as readonly ({ role: string; content: string }[] | null)[]) {
      if (conversation === null || conversation.length === 0) {
        rep.push(0);
        def.push(conversation === null ? 0 : 1);
        continue;
      }
      conversation.forEach((message, i) => {
        rep.push(i === 0 ? 0 : 1);
        def.push(4);
        const bytes = new TextEncoder().encode(message[part]);
        plain.u32(bytes.length);
        plain.bytes(bytes);
      });
    }
    return {
      path: [column.name, 'list', 'element', part],
      physical: TYPE.BYTE_ARRAY,
      levels: [levels(rep, 1), levels(def, 3)],
      values: plain.result(),
      count: rep.length,
    };
  });
}

/** Levels in the RLE/bit-packed hybrid, as runs of equal values, with the 4-byte length prefix of v1 pages. */
function levels(values: readonly number[], bitWidth: number): Uint8Array {
  const runs = new ByteWriter();
  for (let i = 0; i < values.length; ) {
    let j = i;
    while (j < values.length && values[j] === values[i]) j++;
    runs.varint((j - i) << 1); // low bit 0: an RLE run
    for (let b = 0; b < Math.ceil(bitWidth / 8); b++) runs.u8((values[i]! >> (8 * b)) & 0xff);
    i = j;
  }
  const body = runs.result();
  const out = new ByteWriter();
  out.u32(body.length);
  out.bytes(body);
  return out.result();
}

// --- Thrift compact protocol ---

type Value = number | bigint | string | Uint8Array | Field[] | { type: number; items: readonly Value[] };
type Field = [id: number, type: number, value: Value];

function struct(fields: readonly Field[]): Uint8Array {
  const w = new ByteWriter();
  writeStruct(w, fields);
  return w.result();
}

function writeStruct(w: ByteWriter, fields: readonly Field[]): void {
  let last = 0;
  for (const [id, type, value] of fields) {
    if (id - last > 0 && id - last <= 15) w.u8(((id - last) << 4) | type);
    else {
      w.u8(type);
      w.varint(zigzag(BigInt(id)));
    }
    last = id;
    writeValue(w, type, value);
  }
  w.u8(0); // stop
}

function writeValue(w: ByteWriter, type: number, value: Value): void {
  switch (type) {
    case T.I32:
    case T.I64:
      w.varint(zigzag(BigInt(value as number | bigint)));
      return;
    case T.DOUBLE:
      w.f64(value as number);
      return;
    case T.BINARY: {
      const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : (value as Uint8Array);
      w.varint(BigInt(bytes.length));
      w.bytes(bytes);
      return;
    }
    case T.LIST: {
      const { type: itemType, items } = value as { type: number; items: readonly Value[] };
      if (items.length < 15) w.u8((items.length << 4) | itemType);
      else {
        w.u8(0xf0 | itemType);
        w.varint(BigInt(items.length));
      }
      for (const item of items) writeValue(w, itemType, item);
      return;
    }
    case T.STRUCT:
      writeStruct(w, value as Field[]);
      return;
    default:
      throw new Error(`thrift type ${type} is not written by this writer`);
  }
}

const zigzag = (n: bigint): bigint => (n << 1n) ^ (n >> 63n);

class ByteWriter {
  private chunks: Uint8Array[] = [];
  length = 0;
  bytes(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u8(v: number): void {
    this.bytes(Uint8Array.of(v));
  }
  u32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.bytes(b);
  }
  i64(v: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, v, true);
    this.bytes(b);
  }
  f64(v: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.bytes(b);
  }
  varint(v: number | bigint): void {
    let n = BigInt(v);
    do {
      let byte = Number(n & 0x7fn);
      n >>= 7n;
      if (n > 0n) byte |= 0x80;
      this.u8(byte);
    } while (n > 0n);
  }
  result(): Uint8Array {
    return concat(this.chunks);
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const ascii = (s: string) => new TextEncoder().encode(s);

// --- Codecs for tests ---

/**
 * ZSTD frames made of raw (stored) blocks: valid zstd that any decoder must accept, written without a zstd
 * compressor, so the reader's ZSTD path runs in tests. Real compressed ZSTD is in the committed fixtures.
 */
export const ZSTD_STORED: PageCodec = {
  id: 6,
  compress(page) {
    const w = new ByteWriter();
    w.u32(0xfd2fb528);
    w.u8(0xa0); // single segment, 4-byte frame content size
    w.u32(page.length);
    const BLOCK = 1 << 17;
    let at = 0;
    do {
      const size = Math.min(BLOCK, page.length - at);
      const last = at + size >= page.length ? 1 : 0;
      const header = (size << 3) | (0 << 1) | last; // block type 0: raw
      w.bytes(Uint8Array.of(header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff));
      w.bytes(page.subarray(at, at + size));
      at += size;
    } while (at < page.length);
    return w.result();
  },
};
