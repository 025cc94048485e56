import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ExpgenError } from '@expgen/contract';

/**
 * A numpy `.npy` file read by offset: the header is parsed once, then any run of rows (slices along the first
 * axis) is read with one positioned read, so a 2 GB array of a released dump is never loaded whole.
 *
 * Format (numpy's NEP 1): magic `\x93NUMPY`, major and minor version bytes, the header length (u16 LE in v1, u32
 * LE in v2 and v3), then the header, a Python dict literal such as
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (14336, 100, 95), }` (latin-1 in v1/v2, UTF-8 in v3) padded
 * with spaces and a newline so the data starts on a 64-byte boundary; the data follows, in C order here.
 */

export type NpyDtype = 'f4' | 'f8' | 'i4' | 'i8' | 'f2';

const ITEM_SIZE: Readonly<Record<NpyDtype, number>> = { f2: 2, f4: 4, f8: 8, i4: 4, i8: 8 };

export interface NpyHeader {
  readonly version: string;
  readonly dtype: NpyDtype;
  readonly shape: readonly number[];
  /** Byte offset of the first element. */
  readonly dataOffset: number;
}

/** Parses an .npy header from the first bytes of a file (64 KiB is plenty for any real header). */
export function parseNpyHeader(path: string, head: Uint8Array): NpyHeader {
  const bad = (problem: string) => new ExpgenError(`${path} is not a readable .npy file: ${problem}`);
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (head.length < 10 || !magic.every((byte, i) => head[i] === byte)) throw bad('it does not start with \\x93NUMPY');
  const major = head[6]!;
  const minor = head[7]!;
  if (major < 1 || major > 3) throw bad(`format version ${major}.${minor} (this reader knows 1.0, 2.0 and 3.0)`);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (head.length < 8 + lengthBytes) throw bad('it is cut short');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lengthBytes;
  if (head.length < start + headerLength) throw bad(`its ${headerLength}-byte header is cut short`);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(head.subarray(start, start + headerLength));
  let dict: unknown;
  try {
    dict = parsePythonLiteral(text);
  } catch (error) {
    throw bad(`its header ${JSON.stringify(text.trim())} cannot be parsed (${(error as Error).message})`);
  }
  if (!dict || typeof dict !== 'object' || Array.isArray(dict)) throw bad('its header is not a dict');
  const header = dict as Record<string, unknown>;
  const descr = header['descr'];
  if (typeof descr !== 'string') throw bad(`"descr" is ${JSON.stringify(descr)}`);
  const dtype = dtypeOf(descr);
  if (!dtype) throw bad(`dtype ${descr} is not supported (little-endian float16/32/64 or int32/64 are)`);
  if (header['fortran_order'] !== false) throw bad('it is in Fortran order; only C order is supported');
  const shape = header['shape'];
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0))
    throw bad(`"shape" is ${JSON.stringify(shape)}`);
  return { version: `${major}.${minor}`, dtype, shape: shape as number[], dataOffset: start + headerLength };
}

function dtypeOf(descr: string): NpyDtype | undefined {
  // '<' is little-endian; '|' (not applicable) only appears for 1-byte types; '=' is native, little-endian on
  // every platform Node supports.
  const match = /^[<=]([fi])([248])$/.exec(descr);
  if (!match) return undefined;
  const name = `${match[1]}${match[2]}`;
  return name === 'i2' ? undefined : (name as NpyDtype);
}

/**
 * The subset of Python literal syntax numpy headers use: dicts, tuples, lists, strings, integers, True, False,
 * None. Anything else is an error, never evaluated.
 */
export function parsePythonLiteral(text: string): unknown {
  let at = 0;
  const space = () => {
    while (at < text.length && /\s/.test(text[at]!)) at++;
  };
  const fail = (what: string): never => {
    throw new Error(`${what} at position ${at}`);
  };
  const value = (): unknown => {
    space();
    const c = text[at];
    if (c === '{') return sequence('}', true);
    if (c === '(') return sequence(')', false);
    if (c === '[') return sequence(']', false);
    if (c === "'" || c === '"') return string();
    const word = /^(True|False|None|-?\d+)/.exec(text.slice(at));
    if (!word) return fail('unexpected text');
    at += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    if (word[0] === 'None') return null;
    return Number(word[0]);
  };
  const string = (): string => {
    const quote = text[at++]!;
    let out = '';
    while (at < text.length && text[at] !== quote) {
      if (text[at] === '\\') at++;
      out += text[at++] ?? '';
    }
    if (text[at] !== quote) fail('unterminated string');
    at++;
    return out;
  };
  const sequence = (close: string, isDict: boolean): unknown => {
    at++;
    const items: unknown[] = [];
    const dict: Record<string, unknown> = {};
    for (;;) {
      space();
      if (text[at] === close) {
        at++;
        return isDict ? dict : items;
      }
      const item = value();
      if (isDict) {
        space();
        if (text[at] !== ':') fail('expected ":"');
        at++;
        dict[String(item)] = value();
      } else {
        items.push(item);
      }
      space();
      if (text[at] === ',') at++;
      else if (text[at] !== close) fail(`expected "," or "${close}"`);
    }
  };
  const result = value();
  space();
  if (at !== text.length) fail('trailing text');
  return result;
}

/**
 * An .npy file opened for positioned reads of rows along its first axis. `readRows(from, to)` returns rows
 * [from, to) as float32 (f2/f4/f8 files) or int32 (i4/i8 files; an int64 value outside int32 is an error).
 */
export class NpyFile {
  readonly header: NpyHeader;
  /** Elements per row (product of the shape past the first axis). */
  readonly rowSize: number;
  private readonly fd: number;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'r');
    } catch (error) {
      throw new ExpgenError(`${path} cannot be opened (${(error as Error).message})`, { cause: error });
    }
    try {
      const head = new Uint8Array(65536);
      const read = readSync(this.fd, head, 0, head.length, 0);
      this.header = parseNpyHeader(path, head.subarray(0, read));
      this.rowSize = this.header.shape.slice(1).reduce((a, b) => a * b, 1);
      const expected =
        this.header.dataOffset + (this.header.shape[0] ?? 1) * this.rowSize * ITEM_SIZE[this.header.dtype];
      const size = fstatSync(this.fd).size;
      if (size < expected)
        throw new ExpgenError(
          `${path} is cut short: ${size} bytes where its header (shape ${JSON.stringify(this.header.shape)}) needs ${expected}`,
        );
    } catch (error) {
      closeSync(this.fd);
      throw error;
    }
  }

  get shape(): readonly number[] {
    return this.header.shape;
  }

  get isFloat(): boolean {
    return this.header.dtype.startsWith('f');
  }

  /** Rows [from, to) as one flat array in C order. */
  readRows(from: number, to: number): Float32Array | Int32Array {
    const rows = this.header.shape[0] ?? 1;
    if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && 0 <= from && from <= to && to <= rows)) {
      throw new Error(`${this.path}: rows [${from}, ${to}) are outside [0, ${rows})`);
    }
    const itemSize = ITEM_SIZE[this.header.dtype];
    const count = (to - from) * this.rowSize;
    const bytes = new Uint8Array(count * itemSize);
    let done = 0;
    const position = this.header.dataOffset + from * this.rowSize * itemSize;
    while (done < bytes.length) {
      const read = readSync(this.fd, bytes, done, bytes.length - done, position + done);
      if (read === 0) throw new ExpgenError(`${this.path} is cut short at byte ${position + done}`);
      done += read;
    }
    const view = new DataView(bytes.buffer);
    // f4 and i4 are viewed in place: .npy data here is little-endian ('<'), as is every host Node runs on.
    switch (this.header.dtype) {
      case 'f4':
        return new Float32Array(bytes.buffer, 0, count);
      case 'i4':
        return new Int32Array(bytes.buffer, 0, count);
      case 'f8':
        return Float32Array.from({ length: count }, (_, i) => view.getFloat64(i * 8, true));
      case 'f2': {
        const out = new Float32Array(count);
        for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
        return out;
      }
      case 'i8': {
        const out = new Int32Array(count);
        for (let i = 0; i < count; i++) {
          const value = view.getBigInt64(i * 8, true);
          if (value < -2147483648n || value > 2147483647n)
            throw new ExpgenError(`${this.path}: element ${from * this.rowSize + i} (${value}) does not fit in int32`);
          out[i] = Number(value);
        }
        return out;
      }
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? Number.NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
