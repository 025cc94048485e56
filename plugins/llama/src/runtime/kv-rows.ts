import type { HostTensor, HostTensorData } from './host-tensor.js';

/**
 * Rows of a [rows, heads, positions, headDim] cache tensor picked into a new batch: row r of the result is row
 * `source[r]` of `tensor` (rows may repeat: K samples of one prompt share its one prefill). One copy per output row.
 */
export function gatherCacheRows(tensor: HostTensor, source: readonly number[]): HostTensor {
  const [rows, ...rest] = tensor.dims;
  const rowSize = rest.reduce((n, d) => n * d, 1);
  const data = tensor.data;
  const out = new (data.constructor as new (length: number) => HostTensorData)(source.length * rowSize);
  source.forEach((from, r) => {
    if (!(from >= 0 && from < rows!)) throw new Error(`cache row ${from} out of range (${rows} rows)`);
    out.set(data.subarray(from * rowSize, (from + 1) * rowSize) as never, r * rowSize);
  });
  return { type: tensor.type, dims: [source.length, ...rest], data: out };
}
