// Safetensors files as Hugging Face writes them: an 8-byte little-endian header length, a JSON header mapping
// each tensor to its dtype, shape and byte range, then the tensor bytes. The reader keeps only headers in memory
// and reads one tensor at a time with positional reads, so an 8B checkpoint (16 GB) never has to fit in memory.
import { open, readFile, stat, writeFile, mkdir, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from './float-bits.js';

export {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float16BitsToNumber,
  float32BitsToBfloat16Bits,
  float32BitsToFloat16Bits,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  roundToDtype,
} from './float-bits.js';

export type SafetensorsDtype = 'BF16' | 'F16' | 'F32';

export interface TensorInfo {
  readonly dtype: SafetensorsDtype;
  readonly shape: number[];
  /** Path of the file that holds the tensor. */
  readonly file: string;
  /** Absolute offset of the first byte in `file`. */
  readonly byteOffset: number;
  readonly byteLength: number;
}

export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = { BF16: 2, F16: 2, F32: 4 };

/** The index file a sharded checkpoint lists its tensors in. */
export const SAFETENSORS_INDEX = 'model.safetensors.index.json';
/** The single file an unsharded checkpoint uses. */
export const SAFETENSORS_SINGLE = 'model.safetensors';

// The reference implementation refuses headers over 100 MB; a larger one means a corrupt length field.
const MAX_HEADER_BYTES = 100_000_000;
// Positional reads are capped at 2 GiB by the OS; converting in modest chunks also bounds the temporary buffer.
const READ_CHUNK_BYTES = 64 * 1024 * 1024;

interface OpenFile {
  readonly path: string;
  readonly handle: FileHandle;
}

/** A read-only view of the tensors of one checkpoint: a single file, or an index plus shards. */
export class SafetensorsStore {
  private closed = false;

  private constructor(
    private readonly files: readonly OpenFile[],
    private readonly tensors: ReadonlyMap<string, TensorInfo & { readonly handle: FileHandle }>,
    /** `__metadata__` of the first file (e.g. `{ format: 'pt' }`). */
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  /**
   * Opens a model folder (`model.safetensors`, or `model.safetensors.index.json` and its shards) or a single
   * `.safetensors` file.
   */
  static async open(path: string): Promise<SafetensorsStore> {
    const info = await stat(path).catch(() => null);
    if (info === null)
      throw new ExpgenError(
        `${path}: no such file or folder; point to a Hugging Face model folder or a .safetensors file`,
      );
    if (info.isFile()) return SafetensorsStore.fromFiles([path], null);
    const indexPath = join(path, SAFETENSORS_INDEX);
    const singlePath = join(path, SAFETENSORS_SINGLE);
    if (await isFile(indexPath)) return SafetensorsStore.fromIndex(indexPath, path);
    if (await isFile(singlePath)) return SafetensorsStore.fromFiles([singlePath], null);
    throw new ExpgenError(
      `${path}: neither ${SAFETENSORS_SINGLE} nor ${SAFETENSORS_INDEX} is there; download the model's safetensors weights into this folder`,
    );
  }

  private static async fromIndex(indexPath: string, dir: string): Promise<SafetensorsStore> {
    let index: unknown;
    try {
      index = JSON.parse(await readFile(indexPath, 'utf8'));
    } catch (error) {
      throw new ExpgenError(
        `${indexPath}: not valid JSON (${(error as Error).message}); re-download the model's index file`,
        { cause: error },
      );
    }
    const weightMap = isRecord(index) ? index['weight_map'] : undefined;
    if (!isRecord(weightMap)) {
      throw new ExpgenError(
        `${indexPath}: key "weight_map" must be an object mapping tensor names to shard files; re-download the index file`,
      );
    }
    const shardOf = new Map<string, string>();
    for (const [name, shard] of Object.entries(weightMap)) {
      if (typeof shard !== 'string' || shard.length === 0 || shard !== basename(shard)) {
        throw new ExpgenError(
          `${indexPath}: tensor "${name}" maps to ${JSON.stringify(shard)}, which is not a shard file name; re-download the index file`,
        );
      }
      shardOf.set(name, shard);
    }
    const shards = [...new Set(shardOf.values())];
    for (const shard of shards) {
      if (!(await isFile(join(dir, shard)))) {
        const tensor = [...shardOf].find(([, s]) => s === shard)![0];
        throw new ExpgenError(
          `${indexPath}: tensor "${tensor}" is in shard "${shard}", which is missing from ${dir}; download all shards listed in the index`,
        );
      }
    }
    const store = await SafetensorsStore.fromFiles(
      shards.map((s) => join(dir, s)),
      indexPath,
    );
    for (const [name, shard] of shardOf) {
      const info = store.tensors.get(name);
      if (info === undefined || basename(info.file) !== shard) {
        await store.close();
        throw new ExpgenError(
          `${indexPath}: tensor "${name}" is listed in shard "${shard}" but that shard's header does not contain it; re-download the shard`,
        );
      }
    }
    return store;
  }

  private static async fromFiles(paths: readonly string[], indexPath: string | null): Promise<SafetensorsStore> {
    const files: OpenFile[] = [];
    const tensors = new Map<string, TensorInfo & { handle: FileHandle }>();
    let metadata: Record<string, string> = {};
    try {
      for (const path of paths) {
        const handle = await open(path, 'r');
        files.push({ path, handle });
        const header = await readHeader(path, handle);
        if (files.length === 1) metadata = header.metadata;
        for (const info of header.tensors) {
          if (tensors.has(info.name)) {
            const other = tensors.get(info.name)!.file;
            throw new ExpgenError(
              `${path}: tensor "${info.name}" is also in ${other}${indexPath ? ` (both listed by ${indexPath})` : ''}; the checkpoint is inconsistent, re-download it`,
            );
          }
          tensors.set(info.name, {
            dtype: info.dtype,
            shape: info.shape,
            file: path,
            byteOffset: info.byteOffset,
            byteLength: info.byteLength,
            handle,
          });
        }
      }
    } catch (error) {
      await Promise.all(files.map((f) => f.handle.close().catch(() => undefined)));
      throw error;
    }
    return new SafetensorsStore(files, tensors, metadata);
  }

  /** Tensor names in header order, file by file. */
  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const entry = this.entry(name);
    return {
      dtype: entry.dtype,
      shape: [...entry.shape],
      file: entry.file,
      byteOffset: entry.byteOffset,
      byteLength: entry.byteLength,
    };
  }

  /** The tensor's bytes as stored (little-endian), without conversion. */
  async readRaw(name: string): Promise<Buffer> {
    const entry = this.entry(name);
    const buffer = Buffer.allocUnsafe(entry.byteLength);
    await readFully(entry.handle, buffer, entry.byteOffset, entry.file, name);
    return buffer;
  }

  /** The tensor widened to float32 (exactly: every BF16 and F16 value is a float32). */
  async readFloat32(name: string): Promise<Float32Array> {
    const entry = this.entry(name);
    const count = entry.byteLength / DTYPE_BYTES[entry.dtype];
    const out = new Float32Array(count);
    if (entry.dtype === 'F32') {
      await readFully(entry.handle, new Uint8Array(out.buffer), entry.byteOffset, entry.file, name);
      if (!LITTLE_ENDIAN) swapBytes(new Uint8Array(out.buffer), 4);
      return out;
    }
    // 16-bit formats: read a chunk of raw halves, widen it into its place in the output, repeat.
    const chunkElements = Math.min(count, READ_CHUNK_BYTES / 2);
    const raw = new Uint16Array(chunkElements);
    const rawBytes = new Uint8Array(raw.buffer);
    for (let start = 0; start < count; start += chunkElements) {
      const n = Math.min(chunkElements, count - start);
      const bytes = rawBytes.subarray(0, n * 2);
      await readFully(entry.handle, bytes, entry.byteOffset + start * 2, entry.file, name);
      if (!LITTLE_ENDIAN) swapBytes(bytes, 2);
      const target = out.subarray(start, start + n);
      if (entry.dtype === 'BF16') bfloat16BitsToFloat32(raw.subarray(0, n), target);
      else float16BitsToFloat32(raw.subarray(0, n), target);
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.files.map((f) => f.handle.close()));
  }

  private entry(name: string): TensorInfo & { readonly handle: FileHandle } {
    if (this.closed)
      throw new ExpgenError(
        `safetensors store was closed before reading tensor "${name}"; keep it open until loading is done`,
      );
    const entry = this.tensors.get(name);
    if (entry === undefined) {
      const where =
        this.files.length === 1
          ? this.files[0]!.path
          : `${this.files.length} shards in ${join(this.files[0]!.path, '..')}`;
      throw new ExpgenError(
        `${where}: no tensor named "${name}"; the checkpoint does not match the expected architecture`,
      );
    }
    return entry;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapBytes(bytes: Uint8Array, width: 2 | 4): void {
  for (let i = 0; i + width <= bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

async function isFile(path: string): Promise<boolean> {
  const info = await stat(path).catch(() => null);
  return info?.isFile() ?? false;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readFully(
  handle: FileHandle,
  target: Uint8Array,
  position: number,
  file: string,
  tensor: string,
): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const length = Math.min(READ_CHUNK_BYTES, target.length - done);
    const { bytesRead } = await handle.read(target, done, length, position + done);
    if (bytesRead === 0) {
      throw new ExpgenError(
        `${file}: file ended while reading tensor "${tensor}" (byte ${position + done}); the file is truncated, re-download it`,
      );
    }
    done += bytesRead;
  }
}

interface HeaderTensor {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: number[];
  readonly byteOffset: number;
  readonly byteLength: number;
}

async function readHeader(
  path: string,
  handle: FileHandle,
): Promise<{ tensors: HeaderTensor[]; metadata: Record<string, string> }> {
  const { size } = await handle.stat();
  const prefix = Buffer.alloc(8);
  const { bytesRead } = await handle.read(prefix, 0, 8, 0);
  if (bytesRead < 8)
    throw new ExpgenError(`${path}: too short to be a safetensors file (${size} bytes); re-download it`);
  const headerBytes = prefix.readBigUInt64LE(0);
  if (headerBytes > BigInt(Math.min(MAX_HEADER_BYTES, size - 8))) {
    throw new ExpgenError(
      `${path}: header length ${headerBytes} exceeds the file (${size} bytes); this is not a safetensors file or it is truncated`,
    );
  }
  const headerLength = Number(headerBytes);
  const headerBuffer = Buffer.alloc(headerLength);
  await readFully(handle, headerBuffer, 8, path, '(header)');
  let header: unknown;
  try {
    header = JSON.parse(headerBuffer.toString('utf8'));
  } catch (error) {
    throw new ExpgenError(
      `${path}: header is not valid JSON (${(error as Error).message}); this is not a safetensors file or it is corrupt`,
      { cause: error },
    );
  }
  if (!isRecord(header)) throw new ExpgenError(`${path}: header must be a JSON object; this is not a safetensors file`);
  const dataStart = 8 + headerLength;
  const dataBytes = size - dataStart;
  let metadata: Record<string, string> = {};
  const tensors: HeaderTensor[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isRecord(value) || Object.values(value).some((v) => typeof v !== 'string')) {
        throw new ExpgenError(`${path}: "__metadata__" must map strings to strings; the file is corrupt`);
      }
      metadata = value as Record<string, string>;
      continue;
    }
    const where = `${path}: tensor "${name}"`;
    if (!isRecord(value)) throw new ExpgenError(`${where} has no dtype/shape/data_offsets entry; the file is corrupt`);
    const { dtype, shape, data_offsets: offsets } = value;
    if (dtype !== 'BF16' && dtype !== 'F16' && dtype !== 'F32') {
      throw new ExpgenError(
        `${where} has dtype ${JSON.stringify(dtype)}; only BF16, F16 and F32 weights are supported, convert the checkpoint`,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new ExpgenError(
        `${where} has shape ${JSON.stringify(shape)}; a shape must be a list of non-negative integers, the file is corrupt`,
      );
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      throw new ExpgenError(
        `${where} has data_offsets ${JSON.stringify(offsets)}; they must be [begin, end] with begin <= end, the file is corrupt`,
      );
    }
    const [begin, end] = offsets as [number, number];
    const expected = (shape as number[]).reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    if (end - begin !== expected) {
      throw new ExpgenError(
        `${where} spans ${end - begin} bytes but ${dtype} ${JSON.stringify(shape)} needs ${expected}; the file is corrupt`,
      );
    }
    if (end > dataBytes) {
      throw new ExpgenError(
        `${where} ends at data byte ${end} but the file holds only ${dataBytes} data bytes; the file is truncated, re-download it`,
      );
    }
    tensors.push({ name, dtype, shape: shape as number[], byteOffset: dataStart + begin, byteLength: end - begin });
  }
  return { tensors, metadata };
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

export interface TensorToWrite {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Values in row-major order; rounded to `dtype` (nearest even) when written. */
  readonly data: Float32Array;
}

/** The bytes `tensor` occupies in a safetensors file (little-endian). */
export function encodeTensor(tensor: TensorToWrite): Uint8Array {
  checkTensorToWrite(tensor);
  const { data } = tensor;
  let bytes: Uint8Array;
  if (tensor.dtype === 'F32') {
    bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (!LITTLE_ENDIAN) bytes = Uint8Array.from(bytes);
  } else if (tensor.dtype === 'BF16') bytes = new Uint8Array(float32ToBfloat16Bits(data).buffer);
  else bytes = new Uint8Array(float32ToFloat16Bits(data).buffer);
  if (!LITTLE_ENDIAN) swapBytes(bytes, DTYPE_BYTES[tensor.dtype] as 2 | 4);
  return bytes;
}

function checkTensorToWrite(tensor: TensorToWrite): void {
  if (!(tensor.dtype in DTYPE_BYTES)) {
    throw new ExpgenError(
      `tensor "${tensor.name}": dtype ${JSON.stringify(tensor.dtype)} cannot be written; use BF16, F16 or F32`,
    );
  }
  const count = tensor.shape.reduce((a, b) => a * b, 1);
  if (!tensor.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || count !== tensor.data.length) {
    throw new ExpgenError(
      `tensor "${tensor.name}": shape ${JSON.stringify(tensor.shape)} holds ${count} values but ${tensor.data.length} were given`,
    );
  }
}

/**
 * Writes one safetensors file. Tensors are laid out in the order given; the header is padded with spaces to a
 * multiple of 8 bytes (as the reference writer does) so that data is aligned for memory-mapping readers. Each
 * tensor is converted just before it is written, so memory holds one converted tensor at a time.
 * Returns the number of tensor data bytes written.
 */
export async function writeSafetensors(
  file: string,
  tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>,
): Promise<number> {
  // A prototype-free object, so that no tensor name (e.g. "__proto__" or "constructor") collides with Object's.
  const header = Object.create(null) as Record<string, unknown>;
  if (metadata !== undefined) header['__metadata__'] = metadata;
  let offset = 0;
  for (const tensor of tensors) {
    if (tensor.name === '__metadata__' || Object.hasOwn(header, tensor.name)) {
      throw new ExpgenError(
        `${file}: tensor name "${tensor.name}" is reserved or given twice; tensor names must be unique`,
      );
    }
    checkTensorToWrite(tensor);
    const byteLength = tensor.data.length * DTYPE_BYTES[tensor.dtype];
    header[tensor.name] = {
      dtype: tensor.dtype,
      shape: [...tensor.shape],
      data_offsets: [offset, offset + byteLength],
    };
    offset += byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json, 'utf8') % 8)) % 8);
  const headerBuffer = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBuffer.length));
  const handle = await open(file, 'w');
  try {
    await handle.write(prefix);
    await handle.write(headerBuffer);
    for (const tensor of tensors) await handle.write(encodeTensor(tensor));
  } finally {
    await handle.close();
  }
  return offset;
}

/** Hugging Face's shard file name: `model-00001-of-00002.safetensors`. */
export function shardFileName(index: number, count: number): string {
  return `model-${String(index + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.safetensors`;
}

/**
 * Writes a sharded checkpoint as `save_pretrained` lays it out: `model-0000i-of-0000N.safetensors` plus
 * `model.safetensors.index.json`. Tensors keep their order and are cut into `shards` consecutive groups of
 * roughly equal size; every tensor is written as `dtype` (any `dtype` on the tensors themselves is ignored).
 */
export async function writeShardedSafetensors(
  dir: string,
  tensors: readonly { readonly name: string; readonly shape: readonly number[]; readonly data: Float32Array }[],
  shards: number,
  dtype: SafetensorsDtype,
): Promise<{ files: string[]; indexFile: string }> {
  if (!Number.isInteger(shards) || shards < 1 || shards > tensors.length) {
    throw new ExpgenError(
      `${dir}: cannot cut ${tensors.length} tensors into ${shards} shards; use between 1 and ${tensors.length}`,
    );
  }
  await mkdir(dir, { recursive: true });
  const sizes = tensors.map((t) => t.data.length * DTYPE_BYTES[dtype]);
  const total = sizes.reduce((a, b) => a + b, 0);
  // Greedy cut at the running-size targets total * k / shards, leaving at least one tensor per remaining shard.
  const groups: number[][] = [];
  let current: number[] = [];
  let running = 0;
  for (let i = 0; i < tensors.length; i++) {
    current.push(i);
    running += sizes[i]!;
    const remainingTensors = tensors.length - i - 1;
    const remainingShards = shards - groups.length - 1;
    if (
      remainingShards > 0 &&
      (running >= (total * (groups.length + 1)) / shards || remainingTensors === remainingShards)
    ) {
      groups.push(current);
      current = [];
    }
  }
  groups.push(current);
  const weightMap: Record<string, string> = {};
  const files: string[] = [];
  for (let s = 0; s < groups.length; s++) {
    const name = shardFileName(s, groups.length);
    const group = groups[s]!.map((i) => ({
      name: tensors[i]!.name,
      dtype,
      shape: tensors[i]!.shape,
      data: tensors[i]!.data,
    }));
    await writeSafetensors(join(dir, name), group, { format: 'pt' });
    for (const t of group) weightMap[t.name] = name;
    files.push(join(dir, name));
  }
  const sortedMap: Record<string, string> = {};
  for (const key of Object.keys(weightMap).sort()) sortedMap[key] = weightMap[key]!;
  const indexFile = join(dir, SAFETENSORS_INDEX);
  await writeFile(
    indexFile,
    `${JSON.stringify({ metadata: { total_size: total }, weight_map: sortedMap }, null, 2)}\n`,
  );
  return { files, indexFile };
}
