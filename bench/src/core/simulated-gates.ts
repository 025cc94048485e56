import type { HookRequest, HookResult, SparseExtremes } from '@expgen/contract';

/** The device side's gating for the simulated forward (simulated-forward.ts): what the gated graph returns. */

/** The gated result of dense given extremes, as the graph computes it. */
export function gateDense(
  hook: HookRequest,
  max: Float32Array,
  min: Float32Array,
  rows: number,
  width: number,
  seqLen: number,
  random: () => number,
): HookResult {
  const top = hook.thresholds!.top;
  const bottom = hook.thresholds!.bottom;
  const maxima = pairs(rows);
  const minima = pairs(rows);
  const gated = { rows: [] as number[], features: [] as number[] };
  for (let f = 0; f < width; f++) {
    for (let r = 0; r < rows; r++) {
      const high = max[r * width + f]!;
      const low = min[r * width + f]!;
      if (!(high <= hook.extremeThresholds!.top[f]!)) maxima.add(r, f, high);
      if (!(low >= hook.extremeThresholds!.bottom[f]!)) minima.add(r, f, low);
      if (!(high <= top[f]!) || !(low >= bottom[f]!)) {
        gated.rows.push(r);
        gated.features.push(f);
      }
    }
  }
  const values = new Float32Array(gated.rows.length * seqLen);
  gated.rows.forEach((r, i) => {
    const f = gated.features[i]!;
    const high = max[r * width + f]!;
    const low = min[r * width + f]!;
    for (let t = 0; t < seqLen; t++) values[i * seqLen + t] = low + (high - low) * random();
    values[i * seqLen] = high;
    values[i * seqLen + seqLen - 1] = low;
  });
  const denseRows = hook.denseRows ?? new Int32Array(0);
  const pick = (source: Float32Array) => {
    const out = new Float32Array(denseRows.length * width);
    denseRows.forEach((r, i) => {
      out.set(source.subarray(r * width, (r + 1) * width), i * width);
    });
    return out;
  };
  return {
    hook: hook.hook,
    width,
    gated: {
      rows: Int32Array.from(gated.rows),
      features: Int32Array.from(gated.features),
      values,
      max: Float32Array.from(gated.rows, (r, i) => max[r * width + gated.features[i]!]!),
      min: Float32Array.from(gated.rows, (r, i) => min[r * width + gated.features[i]!]!),
    },
    extremes: { maxima: maxima.done(), minima: minima.done() },
    dense: { rows: denseRows.slice(), max: pick(max), min: pick(min) },
  };
}

/** Rows of a batch that pass a gate each row passes with chance `p`, ascending (geometric skips). */
export function* passingRows(rows: number, p: number, random: () => number): Generator<number> {
  if (p <= 0) return;
  if (p >= 1) {
    for (let r = 0; r < rows; r++) yield r;
    return;
  }
  const logMiss = Math.log1p(-p);
  for (let r = Math.floor(Math.log(random()) / logMiss); r < rows; r += 1 + Math.floor(Math.log(random()) / logMiss))
    yield r;
}

export function shuffle(order: Int32Array, random: () => number): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
}

/** Accumulates passing extremes, feature-major, as the graph returns them (feature * batch + row). */
export function pairs(batch: number): {
  add(row: number, feature: number, value: number): void;
  done(): SparseExtremes;
} {
  const index: number[] = [];
  const values: number[] = [];
  return {
    add(row, feature, value) {
      index.push(feature * batch + row);
      values.push(value);
    },
    done: () => ({ index: Int32Array.from(index), values: Float32Array.from(values) }),
  };
}
