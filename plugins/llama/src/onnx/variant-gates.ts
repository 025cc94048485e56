import type { GraphBuilder } from './graph-builder.js';
import type { VariantHookIO } from './hook-variants.js';
import { DataType, int, ints, valueInfo, type ValueInfoProto } from './onnx-proto.js';

/**
 * The gates of a `gated` hook, on the extremes transposed to [width, batch] so that NonZero lists the passing pairs
 * feature-major (feature, then row) — the order the host fills per-feature lists in, with no sort. A pair passes
 * when its value is not within the threshold (`Not(LessOrEqual)`), so NaN always passes and reaches the host's
 * checks. Per-token values are gathered from the flat [batch * seq * width] values at b*seq*width + t*width + f,
 * which reads only the pairs' values (a transpose to [batch, width, seq] would copy every value of the hook).
 */
export function addGates(
  b: GraphBuilder,
  io: VariantHookIO,
  tokens: string,
  max: string,
  min: string,
  seqLength: string,
): ValueInfoProto[] {
  const outputs: ValueInfoProto[] = [];
  const byFeature = (extremes: string) => b.op('Transpose', [extremes], { perm: ints([1, 0]) });
  const column = (thresholds: string) => b.op('Unsqueeze', [thresholds, b.int64Constant([1])]);
  const maxT = byFeature(max);
  const minT = byFeature(min);
  const beyondTop = (thresholds: string) => b.op('Not', [b.op('LessOrEqual', [maxT, column(thresholds)])]);
  const beyondBottom = (thresholds: string) => b.op('Not', [b.op('GreaterOrEqual', [minT, column(thresholds)])]);
  /** [n, 2] int64 (feature, row) of the true entries of a [width, batch] mask, feature-major. */
  const pairsOf = (mask: string) => b.op('Transpose', [b.op('NonZero', [mask])], { perm: ints([1, 0]) });
  const int32 = (output: string, pairs: string) => b.opTo(output, 'Cast', [pairs], { to: int(DataType.INT32) });

  const top = b.input(io.top!, DataType.FLOAT, [io.width]);
  const bottom = b.input(io.bottom!, DataType.FLOAT, [io.width]);
  const pairs = pairsOf(b.op('Or', [beyondTop(top), beyondBottom(bottom)]));
  int32(io.gatedIndex!, pairs);
  const feature = b.op('Gather', [pairs, b.int64Constant(0)], { axis: int(1) });
  const row = b.op('Gather', [pairs, b.int64Constant(1)], { axis: int(1) });
  const width = b.int64Constant(io.width);
  const start = b.op('Add', [b.op('Mul', [row, b.op('Mul', [seqLength, width])]), feature]);
  const steps = b.op('Mul', [b.op('Range', [b.int64Constant(0), seqLength, b.int64Constant(1)]), width]);
  const index = b.op('Add', [
    b.op('Unsqueeze', [start, b.int64Constant([1])]),
    b.op('Unsqueeze', [steps, b.int64Constant([0])]),
  ]);
  b.opTo(io.gatedValues!, 'Gather', [b.op('Reshape', [tokens, b.int64Constant([-1])]), index], { axis: int(0) });
  b.opTo(io.gatedMax!, 'GatherND', [maxT, pairs]);
  b.opTo(io.gatedMin!, 'GatherND', [minT, pairs]);
  outputs.push(
    valueInfo(io.gatedIndex!, DataType.INT32, ['pairs', 2]),
    valueInfo(io.gatedValues!, DataType.FLOAT, ['pairs', 'sequence']),
    valueInfo(io.gatedMax!, DataType.FLOAT, ['pairs']),
    valueInfo(io.gatedMin!, DataType.FLOAT, ['pairs']),
  );
  if (!io.maximaIndex) return outputs;

  // Passing extremes as one flat index into [width, batch] (feature * batch + row, ascending: feature-major) and
  // the value: 8 bytes each, the one traffic that stays proportional to features x sequences in steady state.
  const flat = (value: string) => b.op('Reshape', [value, b.int64Constant([-1])]);
  const sparse = (mask: string, extremes: string, index: string, values: string, count: string) => {
    const passing = flat(b.op('NonZero', [flat(mask)]));
    int32(index, passing);
    b.opTo(values, 'Gather', [flat(extremes), passing], { axis: int(0) });
    outputs.push(valueInfo(index, DataType.INT32, [count]), valueInfo(values, DataType.FLOAT, [count]));
  };
  sparse(
    beyondTop(b.input(io.extremesTop!, DataType.FLOAT, [io.width])),
    maxT,
    io.maximaIndex,
    io.maximaValues!,
    'maxima',
  );
  sparse(
    beyondBottom(b.input(io.extremesBottom!, DataType.FLOAT, [io.width])),
    minT,
    io.minimaIndex!,
    io.minimaValues!,
    'minima',
  );
  const denseRows = b.input(io.denseRows!, DataType.INT64, ['dense_rows']);
  b.opTo(io.denseMax!, 'Gather', [max, denseRows], { axis: int(0) });
  b.opTo(io.denseMin!, 'Gather', [min, denseRows], { axis: int(0) });
  outputs.push(
    valueInfo(io.denseMax!, DataType.FLOAT, ['dense_rows', io.width]),
    valueInfo(io.denseMin!, DataType.FLOAT, ['dense_rows', io.width]),
  );
  return outputs;
}
