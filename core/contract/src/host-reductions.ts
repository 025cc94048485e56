import type { GateThresholds, HookRequest, HookResult, SparseExtremes } from './subject-model.js';

/**
 * The reductions of a HookRequest computed on the host from full per-token values [batch, seqLen, width]. It is
 * the definition the in-graph reductions are tested against, and what subjects that cannot reduce in their graph
 * use. Positions at or past a row's length, and before the row's `countFrom` (ForwardRequest.countFrom), do not
 * count; a row with no counted position has max -Infinity and min +Infinity. `full` values and the per-token values
 * of gated pairs include the prefix: it only stops counting, it is not hidden.
 *
 * Gates compare as "not within": a max passes `top` when `!(max <= top)`, a min passes `bottom` when
 * `!(min >= bottom)` — strictly beyond, and NaN always passes, so a subject's broken numerics reach the host's
 * checks instead of vanishing behind a gate. Pairs come in feature-major order (feature, then row).
 */
export function reduceOnHost(
  full: Float32Array,
  shape: { batch: number; seqLen: number; width: number; lengths?: Int32Array; countFrom?: Int32Array },
  request: Pick<HookRequest, 'hook' | 'reduce' | 'thresholds' | 'extremeThresholds' | 'denseRows'>,
): HookResult {
  const { batch, seqLen, width, countFrom } = shape;
  if (full.length !== batch * seqLen * width)
    throw new Error(`reduceOnHost: ${full.length} values for ${batch} x ${seqLen} x ${width}`);
  if (countFrom) {
    if (countFrom.length !== batch)
      throw new Error(`reduceOnHost: ${countFrom.length} countFrom values for batch ${batch}`);
    // A negative start would read the end of the previous row.
    countFrom.forEach((start, b) => {
      if (start < 0) throw new Error(`reduceOnHost: countFrom ${start} of row ${b} is negative`);
    });
  }
  const lengthOf = (b: number) => (shape.lengths ? shape.lengths[b]! : seqLen);
  if (request.reduce === 'full') {
    const masked = full.slice();
    for (let b = 0; b < batch; b++)
      masked.fill(Number.NaN, (b * seqLen + lengthOf(b)) * width, (b + 1) * seqLen * width);
    return { hook: request.hook, width, full: masked };
  }
  const max = new Float32Array(batch * width).fill(-Infinity);
  const min = new Float32Array(batch * width).fill(Infinity);
  for (let b = 0; b < batch; b++) {
    for (let t = countFrom ? countFrom[b]! : 0; t < lengthOf(b); t++) {
      const row = (b * seqLen + t) * width;
      for (let f = 0; f < width; f++) {
        const v = full[row + f]!;
        // NaN propagates, as a reduction on a device does: a NaN token makes the row's extreme NaN.
        if (v > max[b * width + f]! || Number.isNaN(v)) max[b * width + f] = v;
        if (v < min[b * width + f]! || Number.isNaN(v)) min[b * width + f] = v;
      }
    }
  }
  if (request.reduce === 'extremes') return { hook: request.hook, width, max, min };

  const { top, bottom } = checkGate(request.thresholds, width, request.hook, 'thresholds');
  const rows: number[] = [];
  const features: number[] = [];
  for (let f = 0; f < width; f++) {
    for (let b = 0; b < batch; b++) {
      if (!(max[b * width + f]! <= top[f]!) || !(min[b * width + f]! >= bottom[f]!)) {
        rows.push(b);
        features.push(f);
      }
    }
  }
  const values = new Float32Array(rows.length * seqLen);
  rows.forEach((b, i) => {
    for (let t = 0; t < seqLen; t++)
      values[i * seqLen + t] = t < lengthOf(b) ? full[(b * seqLen + t) * width + features[i]!]! : Number.NaN;
  });
  const gated = {
    rows: Int32Array.from(rows),
    features: Int32Array.from(features),
    values,
    max: Float32Array.from(rows, (b, i) => max[b * width + features[i]!]!),
    min: Float32Array.from(rows, (b, i) => min[b * width + features[i]!]!),
  };
  if (!request.extremeThresholds) {
    if (request.denseRows) throw new Error(`reduceOnHost: denseRows of ${request.hook} needs extremeThresholds`);
    return { hook: request.hook, width, max, min, gated };
  }
  const gate = checkGate(request.extremeThresholds, width, request.hook, 'extremeThresholds');
  const denseRows = request.denseRows ?? new Int32Array(0);
  denseRows.forEach((row, i) => {
    if (!(Number.isInteger(row) && row >= 0 && row < batch) || (i > 0 && row <= denseRows[i - 1]!))
      throw new Error(`reduceOnHost: denseRows of ${request.hook} must be distinct ascending rows below ${batch}`);
  });
  const dense = {
    rows: denseRows.slice(),
    max: new Float32Array(denseRows.length * width),
    min: new Float32Array(denseRows.length * width),
  };
  denseRows.forEach((row, i) => {
    dense.max.set(max.subarray(row * width, (row + 1) * width), i * width);
    dense.min.set(min.subarray(row * width, (row + 1) * width), i * width);
  });
  return {
    hook: request.hook,
    width,
    gated,
    extremes: {
      maxima: sparseBeyond(max, batch, width, (v, f) => !(v <= gate.top[f]!)),
      minima: sparseBeyond(min, batch, width, (v, f) => !(v >= gate.bottom[f]!)),
    },
    dense,
  };
}

function checkGate(gate: GateThresholds | undefined, width: number, hook: string, what: string): GateThresholds {
  if (!gate?.top || !gate.bottom || gate.top.length !== width || gate.bottom.length !== width)
    throw new Error(`reduceOnHost: gated reduction of ${hook} needs ${what}.top and ${what}.bottom of length ${width}`);
  return gate;
}

/** The values of [batch, width] that pass, as feature * batch + row (ascending: feature-major) and value. */
function sparseBeyond(
  values: Float32Array,
  batch: number,
  width: number,
  passes: (value: number, feature: number) => boolean,
): SparseExtremes {
  const index: number[] = [];
  const kept: number[] = [];
  for (let f = 0; f < width; f++) {
    for (let b = 0; b < batch; b++) {
      const v = values[b * width + f]!;
      if (passes(v, f)) {
        index.push(f * batch + b);
        kept.push(v);
      }
    }
  }
  return { index: Int32Array.from(index), values: Float32Array.from(kept) };
}
