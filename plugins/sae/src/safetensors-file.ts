// Safetensors as SAELens and Llama Scope save SAE weights: an 8-byte little-endian header length, a JSON header
// mapping each tensor to its dtype, shape and byte range, then the bytes. Only the header is kept in memory; tensors
// are read one at a time in chunks (and converted to float32 on the way), so a 131k-latent encoder is read with one
// float32 copy and the decoder, which encoding never needs, is not read at all.
import { open, writeFile, type FileHandle } from 'node:fs/promises';
import { ExpgenError } from '@expgen/contract';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

export interface SafetensorsEntry {
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Absolute offset of the tensor's first byte in the file. */
  readonly byteOffset: number;
  readonly byteLength: number;
}

const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = { F32: 4, F16: 2, BF16: 2 };
// The reference implementation refuses headers over 100 MB; a larger one means a corrupt length field.
const MAX_HEADER_BYTES = 100_000_000;
// Positional reads are capped at 2 GiB; modest chunks also bound the temporary buffer of a conversion.
const READ_CHUNK_BYTES = 32 * 1024 * 1024;

/** A read-only safetensors file: its header now, its tensors on demand as float32. */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly entries: ReadonlyMap<string, SafetensorsEntry>,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
      throw new ExpgenError(
        `cannot open ${path} (${error.code ?? error.message}); the SAE folder needs its weights file`,
        { cause: error },
      );
    });
    try {
      const size = (await handle.stat()).size;
      const prefix = Buffer.alloc(8);
      if (size < 8 || (await handle.read(prefix, 0, 8, 0)).bytesRead !== 8)
        throw new ExpgenError(`${path} is not a safetensors file: it is shorter than its 8-byte header length`);
      const headerLength = Number(prefix.readBigUInt64LE(0));
      if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > size) {
        throw new ExpgenError(
          `${path} is not a safetensors file: its header length (${headerLength} bytes) does not fit the file (${size} bytes)`,
        );
      }
      const headerBytes = Buffer.alloc(headerLength);
      await handle.read(headerBytes, 0, headerLength, 8);
      let header: Record<string, unknown>;
      try {
        header = JSON.parse(headerBytes.toString('utf8')) as Record<string, unknown>;
      } catch (error) {
        throw new ExpgenError(`${path} is not a safetensors file: its header is not JSON`, { cause: error });
      }
      const entries = new Map<string, SafetensorsEntry>();
      const dataStart = 8 + headerLength;
      for (const [name, value] of Object.entries(header)) {
        if (name === '__metadata__') continue;
        const entry = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
        const offsets = entry.data_offsets;
        if (
          typeof entry.dtype !== 'string' ||
          !Array.isArray(entry.shape) ||
          !Array.isArray(offsets) ||
          offsets.length !== 2
        ) {
          throw new ExpgenError(
            `${path}: the header entry of tensor "${name}" lacks dtype, shape or data_offsets; the file is corrupt`,
          );
        }
        const [begin, end] = offsets as [number, number];
        if (!(begin >= 0 && end >= begin && dataStart + end <= size))
          throw new ExpgenError(`${path}: tensor "${name}" lies outside the file (truncated download?)`);
        entries.set(name, {
          dtype: entry.dtype,
          shape: (entry.shape as number[]).map(Number),
          byteOffset: dataStart + begin,
          byteLength: end - begin,
        });
      }
      return new SafetensorsFile(path, handle, entries);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /**
   * Reads a tensor as float32. With `transpose`, a 2-D [rows, cols] tensor comes back as [cols, rows] (Llama Scope
   * stores the encoder as [d_sae, d_in]; the encoder here is [d_in, d_sae]), transposed chunk by chunk.
   */
  async readFloat32(name: string, options: { transpose?: boolean; chunkBytes?: number } = {}): Promise<Float32Array> {
    const entry = this.entries.get(name);
    if (!entry) throw new ExpgenError(`${this.path}: tensor "${name}" is missing`);
    if (!(entry.dtype in DTYPE_BYTES))
      throw new ExpgenError(
        `${this.path}: tensor "${name}" is ${entry.dtype}; SAE weights are read from F32, F16 or BF16`,
      );
    const dtype = entry.dtype as SafetensorsDtype;
    const width = DTYPE_BYTES[dtype];
    const count = entry.shape.reduce((a, d) => a * d, 1);
    if (count * width !== entry.byteLength)
      throw new ExpgenError(
        `${this.path}: tensor "${name}" has ${entry.byteLength} bytes for shape [${entry.shape.join(', ')}] ${dtype}; the file is corrupt`,
      );
    const transpose = options.transpose === true;
    if (transpose && entry.shape.length !== 2)
      throw new Error(`${this.path}: tensor "${name}" is not 2-D, it cannot be transposed`);
    const [rows, cols] = transpose ? (entry.shape as [number, number]) : [1, count];
    const out = new Float32Array(count);
    // Whole source rows per chunk, so a transposed chunk scatters complete rows.
    const rowBytes = cols * width;
    const chunkBytes = options.chunkBytes ?? READ_CHUNK_BYTES;
    const rowsPerChunk = Math.max(1, Math.floor(chunkBytes / Math.max(1, rowBytes)));
    const chunkElements = transpose ? rowsPerChunk * cols : Math.max(1, Math.floor(chunkBytes / width));
    const buffer = Buffer.alloc(Math.min(entry.byteLength, chunkElements * width));
    for (let start = 0; start < count; start += chunkElements) {
      const n = Math.min(chunkElements, count - start);
      const bytes = n * width;
      const { bytesRead } = await this.handle.read(buffer, 0, bytes, entry.byteOffset + start * width);
      if (bytesRead !== bytes) throw new ExpgenError(`${this.path}: tensor "${name}" ends early (truncated download?)`);
      const values = decode(buffer, n, dtype);
      if (!transpose) {
        out.set(values, start);
        continue;
      }
      const firstRow = start / cols;
      const chunkRows = n / cols;
      for (let r = 0; r < chunkRows; r++) {
        const source = r * cols;
        const row = firstRow + r;
        for (let c = 0; c < cols; c++) out[c * rows + row] = values[source + c]!;
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

function decode(buffer: Buffer, n: number, dtype: SafetensorsDtype): Float32Array {
  if (dtype === 'F32') {
    // Copy out of the (possibly unaligned) Buffer slice; little-endian on every platform Node runs on here.
    const copy = new Float32Array(n);
    new Uint8Array(copy.buffer).set(buffer.subarray(0, n * 4));
    return copy;
  }
  const bits = new Uint16Array(n);
  new Uint8Array(bits.buffer).set(buffer.subarray(0, n * 2));
  const out = new Float32Array(n);
  if (dtype === 'BF16') {
    const asInt = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) asInt[i] = bits[i]! << 16;
  } else {
    for (let i = 0; i < n; i++) out[i] = float16ToNumber(bits[i]!);
  }
  return out;
}

function float16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Rounds float32 values to the nearest bfloat16 (ties to even) and returns the bits. */
function toBfloat16Bits(values: Float32Array): Uint16Array {
  const asInt = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const bits = asInt[i]!;
    if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) {
      out[i] = (bits >>> 16) | 0x40;
      continue;
    }
    out[i] = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** Rounds float32 values to the nearest float16 (ties to even; overflow to infinity) and returns the bits. */
function toFloat16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const view = new DataView(new ArrayBuffer(4));
  for (let i = 0; i < values.length; i++) {
    view.setFloat32(0, values[i]!);
    const x = view.getUint32(0);
    const sign = (x >>> 16) & 0x8000;
    const exponent = (x >>> 23) & 0xff;
    const mantissa = x & 0x7fffff;
    if (exponent === 0xff) {
      out[i] = sign | 0x7c00 | (mantissa ? 0x200 : 0);
      continue;
    }
    const e = exponent - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
    } else if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      const m = mantissa | 0x800000;
      const shift = 14 - e;
      let half = m >>> shift;
      const rest = m & ((1 << shift) - 1);
      const midpoint = 1 << (shift - 1);
      if (rest > midpoint || (rest === midpoint && half & 1)) half++;
      out[i] = sign | half;
    } else {
      let half = (e << 10) | (mantissa >>> 13);
      const rest = mantissa & 0x1fff;
      if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
      out[i] = sign | half;
    }
  }
  return out;
}

/** Writes float32 tensors as a safetensors file in `dtype` (the tiny SAE and tests: the files SAELens writes). */
export async function writeSafetensors(
  path: string,
  tensors: Readonly<Record<string, { readonly shape: readonly number[]; readonly data: Float32Array }>>,
  options: { dtype?: SafetensorsDtype; metadata?: Record<string, string> } = {},
): Promise<void> {
  const dtype = options.dtype ?? 'F32';
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', ...options.metadata } };
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, tensor] of Object.entries(tensors)) {
    const count = tensor.shape.reduce((a, d) => a * d, 1);
    if (count !== tensor.data.length)
      throw new Error(
        `writeSafetensors: tensor "${name}" has ${tensor.data.length} values for shape [${tensor.shape.join(', ')}]`,
      );
    const stored =
      dtype === 'F32' ? tensor.data : dtype === 'BF16' ? toBfloat16Bits(tensor.data) : toFloat16Bits(tensor.data);
    const bytes = new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
    header[name] = { dtype, shape: [...tensor.shape], data_offsets: [offset, offset + bytes.byteLength] };
    parts.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  // The format pads the header with spaces to a multiple of 8 bytes.
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));
  await writeFile(path, Buffer.concat([prefix, headerBytes, ...parts]));
}

/** What a float32 value becomes once stored in `dtype` and read back (for tests of F16/BF16 files). */
export function roundTo(dtype: SafetensorsDtype, values: Float32Array): Float32Array {
  if (dtype === 'F32') return values.slice();
  const bits = dtype === 'BF16' ? toBfloat16Bits(values) : toFloat16Bits(values);
  return decode(Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength), values.length, dtype);
}
