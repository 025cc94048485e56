import { ExpgenError } from '@expgen/contract';

/**
 * Checkpoint format shared by the exemplar states: one self-describing byte string that a writer puts on disk in
 * one atomic write and a reader turns back into exactly the same typed arrays.
 *
 * Layout (all little-endian):
 *   [0, 8)     magic `EXPGENST`
 *   [8, 12)    u32 byte length H of the header
 *   [12, 12+H) header, UTF-8 JSON: { format, kind, params, sections: [{ name, type, length }] }
 *   padding to a multiple of 8, then every section's raw bytes in header order, each padded to a multiple of 8
 *
 * The sections are the states' own typed arrays, emitted as zero-copy views (`encodeState` returns a list of
 * chunks rather than one concatenated buffer), because at the 8B scale one layer's top-k state is about 1 GB and a
 * checkpoint must not double the process's memory. Alignment to 8 lets a reader map sections in place if it wants.
 */

const MAGIC = 'EXPGENST';
const FORMAT_VERSION = 1;
const PREFIX_BYTES = 12;

const ARRAY_TYPES = {
  f32: Float32Array,
  f64: Float64Array,
  i32: Int32Array,
  u32: Uint32Array,
  u8: Uint8Array,
  u64: BigUint64Array,
} as const;

export type StateArrayType = keyof typeof ARRAY_TYPES;
/** A state's array, whatever buffer backs it (sections are written from views). */
export type StateArray =
  | Float32Array<ArrayBufferLike>
  | Float64Array<ArrayBufferLike>
  | Int32Array<ArrayBufferLike>
  | Uint32Array<ArrayBufferLike>
  | Uint8Array<ArrayBufferLike>
  | BigUint64Array<ArrayBufferLike>;
type ArrayOf<T extends StateArrayType> = InstanceType<(typeof ARRAY_TYPES)[T]>;

/** JSON-safe parameters of a state (sizes, counters); bigints must be converted to strings by the caller. */
export type StateParams = Record<string, unknown>;

interface SectionHeader {
  readonly name: string;
  readonly type: StateArrayType;
  readonly length: number;
}

interface StateHeader {
  readonly format: number;
  readonly kind: string;
  readonly params: StateParams;
  readonly sections: readonly SectionHeader[];
}

/** Typed arrays use the host's byte order; the format is little-endian, which every platform Node supports is. */
function assertLittleEndian(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error('exemplar state checkpoints are little-endian; this host is big-endian, which is not supported');
  }
}

function typeNameOf(array: StateArray): StateArrayType {
  for (const [name, ctor] of Object.entries(ARRAY_TYPES)) if (array instanceof ctor) return name as StateArrayType;
  throw new Error(`encodeState: unsupported array type ${Object.prototype.toString.call(array)}`);
}

const ZERO_PADDING = new Uint8Array(8);

function paddingFor(length: number): number {
  return (8 - (length % 8)) % 8;
}

/**
 * Encodes a state as chunks whose concatenation is the checkpoint. Section chunks are views of `sections`' memory:
 * write them out before the state changes again.
 */
export function encodeState(
  kind: string,
  params: StateParams,
  sections: Readonly<Record<string, StateArray>>,
): Uint8Array[] {
  assertLittleEndian();
  const entries = Object.entries(sections);
  const header: StateHeader = {
    format: FORMAT_VERSION,
    kind,
    params,
    sections: entries.map(([name, array]) => ({ name, type: typeNameOf(array), length: array.length })),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const prefix = new Uint8Array(PREFIX_BYTES + json.length + paddingFor(PREFIX_BYTES + json.length));
  prefix.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(prefix.buffer).setUint32(8, json.length, true);
  prefix.set(json, PREFIX_BYTES);
  const chunks: Uint8Array[] = [prefix];
  for (const [, array] of entries) {
    if (array.byteLength > 0) chunks.push(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
    const pad = paddingFor(array.byteLength);
    if (pad > 0) chunks.push(ZERO_PADDING.subarray(0, pad));
  }
  return chunks;
}

/** Concatenates checkpoint chunks into one buffer, for writers that take a single `Uint8Array`. */
export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const chunk of chunks) total += chunk.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Reads byte ranges out of a list of chunks without concatenating them (a 1 GB state read in pieces stays 1 GB). */
class ChunkedBytes {
  readonly length: number;
  private readonly starts: number[] = [];

  constructor(private readonly chunks: readonly Uint8Array[]) {
    let total = 0;
    for (const chunk of chunks) {
      this.starts.push(total);
      total += chunk.length;
    }
    this.length = total;
  }

  /** Copies bytes [offset, offset + into.length) into `into`. */
  copy(offset: number, into: Uint8Array): void {
    let written = 0;
    let index = this.chunkAt(offset);
    while (written < into.length) {
      const chunk = this.chunks[index]!;
      const from = offset + written - this.starts[index]!;
      const take = Math.min(chunk.length - from, into.length - written);
      into.set(chunk.subarray(from, from + take), written);
      written += take;
      index++;
    }
  }

  private chunkAt(offset: number): number {
    let low = 0;
    let high = this.chunks.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.starts[middle]! <= offset) low = middle;
      else high = middle - 1;
    }
    // Skip empty chunks that start at the same offset.
    while (low < this.chunks.length - 1 && this.chunks[low]!.length === 0) low++;
    return low;
  }
}

/** A checkpoint being read back: its parameters, and its sections copied into fresh arrays on request. */
export interface DecodedState {
  readonly params: StateParams;
  /** The section `name`, which must have element type `type` and `length` elements. */
  take<T extends StateArrayType>(name: string, type: T, length: number): ArrayOf<T>;
}

/** Thrown for a checkpoint that is not what the reader expects: the user can delete it and restart the stage. */
export function corruptCheckpoint(kind: string, problem: string): ExpgenError {
  return new ExpgenError(
    `exemplar checkpoint (${kind}) is unusable: ${problem}; delete it to recompute this stage from the start`,
  );
}

/**
 * Decodes a checkpoint written by `encodeState` for a state of kind `kind`. The sections are copied, so the state
 * owns its memory and the input can be dropped or reused.
 */
export function decodeState(input: Uint8Array | readonly Uint8Array[], kind: string): DecodedState {
  assertLittleEndian();
  const bytes = new ChunkedBytes(input instanceof Uint8Array ? [input] : input);
  if (bytes.length < PREFIX_BYTES) throw corruptCheckpoint(kind, `only ${bytes.length} bytes`);
  const prefix = new Uint8Array(PREFIX_BYTES);
  bytes.copy(0, prefix);
  if (new TextDecoder().decode(prefix.subarray(0, 8)) !== MAGIC)
    throw corruptCheckpoint(kind, 'it does not start with EXPGENST');
  const headerLength = new DataView(prefix.buffer).getUint32(8, true);
  if (PREFIX_BYTES + headerLength > bytes.length) throw corruptCheckpoint(kind, 'its header is cut off');
  const json = new Uint8Array(headerLength);
  bytes.copy(PREFIX_BYTES, json);
  let header: StateHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(json)) as StateHeader;
  } catch (error) {
    throw corruptCheckpoint(kind, `its header is not JSON (${(error as Error).message})`);
  }
  if (header.format !== FORMAT_VERSION)
    throw corruptCheckpoint(kind, `format ${String(header.format)}, this version reads ${FORMAT_VERSION}`);
  if (header.kind !== kind) throw corruptCheckpoint(kind, `it holds a "${String(header.kind)}" state`);

  const offsets = new Map<string, { section: SectionHeader; offset: number }>();
  let offset = PREFIX_BYTES + headerLength + paddingFor(PREFIX_BYTES + headerLength);
  for (const section of header.sections) {
    const ctor = ARRAY_TYPES[section.type];
    if (!ctor || !Number.isSafeInteger(section.length) || section.length < 0) {
      throw corruptCheckpoint(
        kind,
        `section "${section.name}" has type ${String(section.type)} and length ${String(section.length)}`,
      );
    }
    offsets.set(section.name, { section, offset });
    const byteLength = section.length * ctor.BYTES_PER_ELEMENT;
    offset += byteLength + paddingFor(byteLength);
  }
  if (offset !== bytes.length)
    throw corruptCheckpoint(kind, `${bytes.length} bytes where the header describes ${offset}`);

  return {
    params: header.params,
    take<T extends StateArrayType>(name: string, type: T, length: number): ArrayOf<T> {
      const found = offsets.get(name);
      if (!found) throw corruptCheckpoint(kind, `section "${name}" is missing`);
      if (found.section.type !== type || found.section.length !== length) {
        throw corruptCheckpoint(
          kind,
          `section "${name}" is ${found.section.type}[${found.section.length}], expected ${type}[${length}]`,
        );
      }
      const array = new ARRAY_TYPES[type](length) as ArrayOf<T>;
      bytes.copy(found.offset, new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
      return array;
    },
  };
}

/** Reads a numeric parameter of a decoded state, checking that it is a safe integer in [min, max]. */
export function integerParam(
  state: DecodedState,
  kind: string,
  name: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const value = state.params[name];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw corruptCheckpoint(
      kind,
      `parameter "${name}" is ${JSON.stringify(value)}, expected an integer in [${min}, ${max}]`,
    );
  }
  return value;
}
