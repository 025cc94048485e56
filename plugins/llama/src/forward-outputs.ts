import type { HookRequest, HookResult } from '@expgen/contract';
import type { HookVariant } from './onnx/hook-variants.js';
import type { HostTensor } from './runtime/host-tensor.js';

/** Turns a variant's outputs for one hook into the contract's HookResult, marking padded positions NaN. */
export function unpackHook(
  io: HookVariant['hooks'][number],
  outputs: Record<string, HostTensor>,
  batch: number,
  seqLen: number,
  lengths: Int32Array,
  request: HookRequest,
): HookResult {
  const { hook, width } = io;
  if (io.full) {
    const full = outputs[io.full]!.data as Float32Array;
    for (let row = 0; row < batch; row++)
      full.fill(NaN, (row * seqLen + lengths[row]!) * width, (row + 1) * seqLen * width);
    return { hook, width, full };
  }
  const float = (name: string | undefined) => outputs[name!]!.data as Float32Array;
  if (!io.gatedIndex) return { hook, width, max: float(io.max), min: float(io.min) };
  const [features, rows] = pairColumns(outputs[io.gatedIndex]!.data as Int32Array);
  const values = float(io.gatedValues);
  for (let i = 0; i < rows.length; i++) values.fill(NaN, i * seqLen + lengths[rows[i]!]!, (i + 1) * seqLen);
  const gated = { rows, features, values, max: float(io.gatedMax), min: float(io.gatedMin) };
  if (!io.maximaIndex) return { hook, width, max: float(io.max), min: float(io.min), gated };
  const sparse = (index: string, values: string) => ({
    index: outputs[index]!.data as Int32Array,
    values: float(values),
  });
  const denseRows = (request.denseRows ?? new Int32Array(0)).slice();
  return {
    hook,
    width,
    gated,
    extremes: {
      maxima: sparse(io.maximaIndex, io.maximaValues!),
      minima: sparse(io.minimaIndex!, io.minimaValues!),
    },
    dense: { rows: denseRows, max: float(io.denseMax), min: float(io.denseMin) },
  };
}

/** The two columns of an int32 [n, 2] index output. */
function pairColumns(pairs: Int32Array): [Int32Array, Int32Array] {
  const count = pairs.length / 2;
  const first = new Int32Array(count);
  const second = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    first[i] = pairs[2 * i]!;
    second[i] = pairs[2 * i + 1]!;
  }
  return [first, second];
}
