import { createHash, type Hash } from 'node:crypto';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join, normalize, relative, sep } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import {
  bytesPerElement,
  externalDataEntry,
  isExternal,
  tensorDims,
  toNumber,
  type GraphProto,
  type TensorProto,
} from './onnx-proto.js';

/**
 * Offsets of large tensors are page-aligned so that ONNX Runtime can memory-map them; small ones are only aligned
 * to 64 bytes so the file does not fill with padding.
 */
const PAGE_ALIGNMENT = 4096;
const SMALL_ALIGNMENT = 64;
const SMALL_TENSOR_BYTES = 64 * 1024;

/**
 * Appends tensors to an external-data file one chunk at a time, so that no more than one tensor (and usually one
 * chunk) is in memory however large the model, and hashes the bytes as they are written.
 */
export class ExternalDataWriter {
  private position = 0;
  private readonly hash: Hash = createHash('sha256');

  private constructor(
    private readonly file: FileHandle,
    /** Path written into each TensorProto, relative to the model's folder. */
    readonly location: string,
  ) {}

  static async create(folder: string, location: string): Promise<ExternalDataWriter> {
    return new ExternalDataWriter(await open(join(folder, location), 'w'), location);
  }

  /** Starts a tensor of `byteLength` bytes; returns its offset. Write exactly that many bytes with `write`. */
  async begin(byteLength: number): Promise<number> {
    const alignment = byteLength >= SMALL_TENSOR_BYTES ? PAGE_ALIGNMENT : SMALL_ALIGNMENT;
    const padding = (alignment - (this.position % alignment)) % alignment;
    if (padding > 0) await this.write(new Uint8Array(padding));
    return this.position;
  }

  async write(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await this.file.write(bytes, written, bytes.length - written, this.position + written);
      written += bytesWritten;
    }
    this.hash.update(bytes);
    this.position += bytes.length;
  }

  get size(): number {
    return this.position;
  }

  /** Closes the file; returns the sha256 (hex) of everything written. */
  async close(): Promise<string> {
    await this.file.close();
    return this.hash.digest('hex');
  }

  async abort(): Promise<void> {
    await this.file.close().catch(() => undefined);
  }
}

/**
 * Checks that every external initializer of `graph` points at a file inside `modelFolder`, by a relative path, and
 * within that file's size, so a broken copy fails here with the file named rather than inside ONNX Runtime.
 * Reads file sizes only, never the weights.
 */
export async function checkExternalData(
  graph: GraphProto,
  modelFolder: string,
  modelFile: string,
): Promise<{ files: string[] }> {
  const sizes = new Map<string, number>();
  for (const tensor of graph.initializer ?? []) {
    if (!isExternal(tensor)) continue;
    const location = externalDataEntry(tensor, 'location');
    if (location === undefined || location === '') {
      throw new ExpgenError(
        `${modelFile}: initializer "${tensor.name}" is stored externally but names no file; re-export the model`,
      );
    }
    if (isAbsolute(location) || /^[A-Za-z]:[\\/]/.test(location)) {
      throw new ExpgenError(
        `${modelFile}: initializer "${tensor.name}" points at the absolute path "${location}"; ONNX Runtime needs data files named relative to the model's folder — re-save the model with a relative location`,
      );
    }
    const resolved = normalize(join(modelFolder, location));
    const inside = relative(modelFolder, resolved);
    if (inside.startsWith('..') || inside.split(sep).includes('..') || isAbsolute(inside)) {
      throw new ExpgenError(
        `${modelFile}: initializer "${tensor.name}" points outside the model's folder ("${location}"); move the data file next to the model and re-save it`,
      );
    }
    let size = sizes.get(resolved);
    if (size === undefined) {
      try {
        size = (await stat(resolved)).size;
      } catch {
        throw new ExpgenError(
          `${modelFile}: external data file "${location}" (initializer "${tensor.name}") is missing from ${modelFolder}; copy it next to the model`,
        );
      }
      sizes.set(resolved, size);
    }
    const offset = Number(externalDataEntry(tensor, 'offset') ?? 0);
    const lengthEntry = externalDataEntry(tensor, 'length');
    const expected = tensorDims(tensor).reduce((a, b) => a * b, 1) * safeBytesPerElement(tensor);
    const length = lengthEntry === undefined ? expected : Number(lengthEntry);
    if (!Number.isFinite(offset) || !Number.isFinite(length) || offset + length > size) {
      throw new ExpgenError(
        `${modelFile}: external data file "${location}" is ${size} bytes but initializer "${tensor.name}" needs bytes ${offset}..${offset + length}; the file is truncated or from another export`,
      );
    }
  }
  return { files: [...sizes.keys()].map((file) => relative(modelFolder, file)) };
}

function safeBytesPerElement(tensor: TensorProto): number {
  try {
    return bytesPerElement(toNumber(tensor.dataType));
  } catch {
    return 0; // packed or exotic types: the declared length is all there is to check
  }
}
