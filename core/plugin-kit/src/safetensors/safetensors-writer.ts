// Writing safetensors files: one file, or a sharded checkpoint as `save_pretrained` lays it out. Each tensor is
// converted just before it is written, so memory holds one converted tensor at a time.
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import { float32ToBfloat16Bits, float32ToFloat16Bits } from './float-bits.js';
import {
  DTYPE_BYTES,
  LITTLE_ENDIAN,
  SAFETENSORS_INDEX,
  swapBytes,
  type SafetensorsDtype,
} from './safetensors-format.js';
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
