/** Element types that cross the worker boundary, spelled as ONNX Runtime's JavaScript API spells them. */
export type HostTensorType = 'float32' | 'float16' | 'int64' | 'int32' | 'bool' | 'uint8';

export type HostTensorData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

/** A tensor in host memory: plain data that can be posted to a worker (buffers are transferred, not copied). */
export interface HostTensor {
  readonly type: HostTensorType;
  readonly dims: readonly number[];
  readonly data: HostTensorData;
}

/** Feeds a tensor the worker kept from an earlier run (a KV cache) instead of sending data. */
export interface RetainedTensorRef {
  readonly retained: string;
}

export type Feed = HostTensor | RetainedTensorRef;

export function isRetainedRef(feed: Feed): feed is RetainedTensorRef {
  return typeof (feed as RetainedTensorRef).retained === 'string';
}

export function float32Tensor(data: Float32Array, dims: readonly number[]): HostTensor {
  return { type: 'float32', dims, data };
}

export function int64Tensor(values: ArrayLike<number> | BigInt64Array, dims: readonly number[]): HostTensor {
  if (values instanceof BigInt64Array) return { type: 'int64', dims, data: values };
  const data = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]!);
  return { type: 'int64', dims, data };
}

/** Buffers of the feeds' data, to transfer rather than copy when posting to the worker. */
export function transferables(tensors: Iterable<Feed>): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const tensor of tensors) {
    if (isRetainedRef(tensor)) continue;
    const buffer = tensor.data.buffer;
    // Only whole, non-shared buffers can be transferred; views into larger buffers are copied by structured clone.
    if (buffer instanceof ArrayBuffer && tensor.data.byteOffset === 0 && tensor.data.byteLength === buffer.byteLength)
      buffers.add(buffer);
  }
  return [...buffers];
}
