import type { HookRequest, HookResult } from './subject-model.js';

/**
 * The reductions of a HookRequest computed on the host from full per-token values [batch, seqLen, width]. It is
 * the definition the in-graph reductions are tested against, and what subjects that cannot reduce in their graph
 * use. Positions at or past a row's length, and before the row's `countFrom` (ForwardRequest.countFrom), do not
 * count; a row with no counted position has max -Infinity and min +Infinity. `full` values and the per-token values
 * of gated pairs include the prefix: it only stops counting, it is not hidden.
 */
export function reduceOnHost(
  full: Float32Array,
  shape: { batch: number; seqLen: number; width: number; lengths?: Int32Array; countFrom?: Int32Array },
  request: Pick<HookRequest, 'hook' | 'reduce' | 'thresholds'>,
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
  if (request.reduce === 'full') {
    const masked = full.slice();
    for (let b = 0; b < batch; b++) {
      const length = shape.lengths ? shape.lengths[b]! : seqLen;
      masked.fill(Number.NaN, (b * seqLen + length) * width, (b + 1) * seqLen * width);
    }
    return { hook: request.hook, width, full: masked };
  }
  const max = new Float32Array(batch * width).fill(-Infinity);
  const min = new Float32Array(batch * width).fill(Infinity);
  for (let b = 0; b < batch; b++) {
    const length = shape.lengths ? shape.lengths[b]! : seqLen;
    for (let t = countFrom ? countFrom[b]! : 0; t < length; t++) {
      const row = (b * seqLen + t) * width;
      for (let f = 0; f < width; f++) {
        const v = full[row + f]!;
        if (v > max[b * width + f]!) max[b * width + f] = v;
        if (v < min[b * width + f]!) min[b * width + f] = v;
      }
    }
  }
  if (request.reduce === 'extremes') return { hook: request.hook, width, max, min };

  const top = request.thresholds?.top;
  const bottom = request.thresholds?.bottom;
  if (!top || !bottom || top.length !== width || bottom.length !== width) {
    throw new Error(
      `reduceOnHost: gated reduction of ${request.hook} needs top and bottom thresholds of length ${width}`,
    );
  }
  const rows: number[] = [];
  const features: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let f = 0; f < width; f++) {
      if (max[b * width + f]! > top[f]! || min[b * width + f]! < bottom[f]!) {
        rows.push(b);
        features.push(f);
      }
    }
  }
  const values = new Float32Array(rows.length * seqLen);
  rows.forEach((b, i) => {
    const length = shape.lengths ? shape.lengths[b]! : seqLen;
    for (let t = 0; t < seqLen; t++)
      values[i * seqLen + t] = t < length ? full[(b * seqLen + t) * width + features[i]!]! : Number.NaN;
  });
  return {
    hook: request.hook,
    width,
    max,
    min,
    gated: { rows: Int32Array.from(rows), features: Int32Array.from(features), values },
  };
}
