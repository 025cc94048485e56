// The one safetensors reader of expgen and its plugins (Hugging Face checkpoints, SAELens and Llama Scope SAEs). It
// keeps only headers in memory and reads one tensor at a time with positional reads, in chunks converted to float32
// on the way, so an 8B checkpoint (16 GB) never has to fit in memory and a 131k-latent SAE encoder is read with one
// float32 copy.
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import { bfloat16BitsToFloat32, float16BitsToFloat32 } from './float-bits.js';
import {
  DTYPE_BYTES,
  LITTLE_ENDIAN,
  SAFETENSORS_INDEX,
  SAFETENSORS_SINGLE,
  swapBytes,
  type SafetensorsDtype,
  type TensorInfo,
} from './safetensors-format.js';

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

  /**
   * The tensor widened to float32 (exactly: every BF16 and F16 value is a float32), read and converted in chunks.
   * With `transpose`, a 2-D [rows, cols] tensor comes back as [cols, rows] (Llama Scope stores an SAE encoder as
   * [d_sae, d_in], SAELens as [d_in, d_sae]), transposed chunk by chunk without a second full copy.
   */
  async readFloat32(name: string, options: { transpose?: boolean; chunkBytes?: number } = {}): Promise<Float32Array> {
    const entry = this.entry(name);
    const width = DTYPE_BYTES[entry.dtype];
    const count = entry.byteLength / width;
    const transpose = options.transpose === true;
    if (transpose && entry.shape.length !== 2)
      throw new ExpgenError(
        `${entry.file}: tensor "${name}" has shape [${entry.shape.join(', ')}], not 2-D: it cannot be transposed`,
      );
    const out = new Float32Array(count);
    if (entry.dtype === 'F32' && !transpose && options.chunkBytes === undefined) {
      await readFully(entry.handle, new Uint8Array(out.buffer), entry.byteOffset, entry.file, name);
      if (!LITTLE_ENDIAN) swapBytes(new Uint8Array(out.buffer), 4);
      return out;
    }
    const [rows, cols] = transpose ? (entry.shape as [number, number]) : [1, count];
    const chunkBytes = options.chunkBytes ?? READ_CHUNK_BYTES;
    // Whole source rows per chunk when transposing, so each chunk scatters complete rows.
    const chunkElements = Math.max(
      1,
      transpose
        ? Math.max(1, Math.floor(chunkBytes / Math.max(1, cols * width))) * cols
        : Math.floor(chunkBytes / width),
    );
    const raw = new Uint8Array(Math.min(count, chunkElements) * width);
    const converted = new Float32Array(Math.min(count, chunkElements));
    for (let start = 0; start < count; start += chunkElements) {
      const n = Math.min(chunkElements, count - start);
      const bytes = raw.subarray(0, n * width);
      await readFully(entry.handle, bytes, entry.byteOffset + start * width, entry.file, name);
      if (!LITTLE_ENDIAN) swapBytes(bytes, width as 2 | 4);
      const values = converted.subarray(0, n);
      if (entry.dtype === 'F32') values.set(new Float32Array(raw.buffer, 0, n));
      else if (entry.dtype === 'BF16') bfloat16BitsToFloat32(new Uint16Array(raw.buffer, 0, n), values);
      else float16BitsToFloat32(new Uint16Array(raw.buffer, 0, n), values);
      if (!transpose) {
        out.set(values, start);
        continue;
      }
      const firstRow = start / cols;
      for (let r = 0; r < n / cols; r++) {
        const row = firstRow + r;
        for (let c = 0; c < cols; c++) out[c * rows + row] = values[r * cols + c]!;
      }
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
