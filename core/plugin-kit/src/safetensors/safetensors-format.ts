// Safetensors files as Hugging Face, SAELens and Llama Scope write them: an 8-byte little-endian header length, a
// JSON header mapping each tensor to its dtype, shape and byte range, then the tensor bytes.

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

export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function swapBytes(bytes: Uint8Array, width: 2 | 4): void {
  for (let i = 0; i + width <= bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}
