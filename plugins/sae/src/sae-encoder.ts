// The host reference of an SAE encoder in plain TypeScript: the definition the in-graph fragment is tested against,
// and what subjects that cannot run graph fragments use. The math follows SAELens' `encode`:
//   x' = normalize(x); x' -= b_dec if apply_b_dec_to_input; pre = x' W_enc + b_enc;
//   standard: relu(pre); jumprelu: relu(pre) where pre > threshold, else 0; topk: relu of the k largest pre, else 0.
import type { SaeArchitecture, SaeNormalization } from './sae-config.js';

/** An encoder ready to run: float32 tensors in SAELens' layout. The decoder is never needed to encode. */
export interface SaeEncoder {
  readonly dIn: number;
  readonly dSae: number;
  readonly architecture: SaeArchitecture;
  readonly k: number | null;
  readonly applyBDecToInput: boolean;
  readonly normalization: SaeNormalization;
  /**
   * W_enc transposed, [d_sae, d_in] row-major: row j is latent j's encoder direction (Llama Scope's
   * `encoder.weight` layout). Contiguous per latent, so the host's dot products stream it and the graph reads it with
   * Gemm(transB = 1).
   */
  readonly wEncT: Float32Array;
  /** [d_sae]. */
  readonly bEnc: Float32Array;
  /** [d_in]; null when the SAE has no decoder bias. */
  readonly bDec: Float32Array | null;
  /** [d_sae], for jumprelu. */
  readonly threshold: Float32Array | null;
}

// Rows encoded together: each latent's encoder row is read once for the block, into four register accumulators.
const BLOCK_ROWS = 4;

/** Encoder inputs after normalization and b_dec subtraction, [rows, d_in] in float64; NaN rows stay NaN. */
function encoderInput(sae: SaeEncoder, x: Float32Array, row: number, into: Float64Array, at: number): boolean {
  const { dIn, normalization } = sae;
  const base = row * dIn;
  let scale = 1;
  let shift = 0;
  let finite = true;
  if (normalization.kind === 'expected_average_only_in') {
    scale = normalization.factor;
  } else if (normalization.kind === 'constant_norm_rescale') {
    let sum = 0;
    for (let i = 0; i < dIn; i++) sum += x[base + i]! * x[base + i]!;
    scale = Math.sqrt(dIn) / Math.sqrt(sum);
  } else if (normalization.kind === 'layer_norm') {
    let mean = 0;
    for (let i = 0; i < dIn; i++) mean += x[base + i]!;
    mean /= dIn;
    let squares = 0;
    for (let i = 0; i < dIn; i++) squares += (x[base + i]! - mean) ** 2;
    shift = mean;
    scale = 1 / (Math.sqrt(squares / (dIn - 1)) + normalization.eps);
  }
  for (let i = 0; i < dIn; i++) {
    let value = (x[base + i]! - shift) * scale;
    if (sae.applyBDecToInput && sae.bDec) value -= sae.bDec[i]!;
    if (Number.isNaN(value)) finite = false;
    into[at + i] = value;
  }
  return finite;
}

/** pre = x' W_enc + b_enc for rows [from, from + n), into `pre` [n, d_sae]; returns which rows had a NaN input. */
function preActivationBlock(
  sae: SaeEncoder,
  x: Float32Array,
  from: number,
  n: number,
  input: Float64Array,
  pre: Float64Array,
  blockRows: number,
): boolean[] {
  const { dIn, dSae, wEncT, bEnc } = sae;
  const finite: boolean[] = [];
  for (let b = 0; b < n; b++) finite.push(encoderInput(sae, x, from + b, input, b * dIn));
  let b = 0;
  // Four rows at a time: one read of each encoder row serves four dot products.
  if (blockRows >= 4) {
    for (; b + 4 <= n; b += 4) {
      const x0 = b * dIn;
      const x1 = x0 + dIn;
      const x2 = x1 + dIn;
      const x3 = x2 + dIn;
      for (let j = 0; j < dSae; j++) {
        const w = j * dIn;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let i = 0; i < dIn; i++) {
          const wi = wEncT[w + i]!;
          s0 += wi * input[x0 + i]!;
          s1 += wi * input[x1 + i]!;
          s2 += wi * input[x2 + i]!;
          s3 += wi * input[x3 + i]!;
        }
        const bias = bEnc[j]!;
        pre[b * dSae + j] = s0 + bias;
        pre[(b + 1) * dSae + j] = s1 + bias;
        pre[(b + 2) * dSae + j] = s2 + bias;
        pre[(b + 3) * dSae + j] = s3 + bias;
      }
    }
  }
  for (; b < n; b++) {
    const x0 = b * dIn;
    for (let j = 0; j < dSae; j++) {
      const w = j * dIn;
      let s = 0;
      for (let i = 0; i < dIn; i++) s += wEncT[w + i]! * input[x0 + i]!;
      pre[b * dSae + j] = s + bEnc[j]!;
    }
  }
  return finite;
}

/** Pre-activations x' W_enc + b_enc, [rows, d_sae] (tests use them to find values on a JumpReLU or TopK boundary). */
export function preActivations(sae: SaeEncoder, x: Float32Array, rows: number): Float32Array {
  checkInput(sae, x, rows);
  const out = new Float32Array(rows * sae.dSae);
  const input = new Float64Array(BLOCK_ROWS * sae.dIn);
  const pre = new Float64Array(BLOCK_ROWS * sae.dSae);
  for (let from = 0; from < rows; from += BLOCK_ROWS) {
    const n = Math.min(BLOCK_ROWS, rows - from);
    const finite = preActivationBlock(sae, x, from, n, input, pre, BLOCK_ROWS);
    for (let b = 0; b < n; b++) {
      const row = out.subarray((from + b) * sae.dSae, (from + b + 1) * sae.dSae);
      if (finite[b]) row.set(pre.subarray(b * sae.dSae, (b + 1) * sae.dSae));
      else row.fill(NaN);
    }
  }
  return out;
}

/**
 * Latent activations [rows, d_sae] of hook values [rows, d_in]. A row with a NaN input (a padded position) is NaN.
 * `blockRows` (default 4) rows share each pass over the encoder; the benchmark compares it with 1.
 */
export function encodeSae(
  sae: SaeEncoder,
  x: Float32Array,
  rows: number,
  options: { blockRows?: number } = {},
): Float32Array {
  checkInput(sae, x, rows);
  const { dSae } = sae;
  const block = Math.max(1, options.blockRows ?? BLOCK_ROWS);
  const out = new Float32Array(rows * dSae);
  const input = new Float64Array(block * sae.dIn);
  const pre = new Float64Array(block * dSae);
  const order = sae.architecture === 'topk' ? new Int32Array(dSae) : null;
  for (let from = 0; from < rows; from += block) {
    const n = Math.min(block, rows - from);
    const finite = preActivationBlock(sae, x, from, n, input, pre, block);
    for (let b = 0; b < n; b++) {
      const target = (from + b) * dSae;
      const source = b * dSae;
      if (!finite[b]) {
        out.fill(NaN, target, target + dSae);
        continue;
      }
      if (sae.architecture === 'standard') {
        for (let j = 0; j < dSae; j++) out[target + j] = Math.max(0, pre[source + j]!);
      } else if (sae.architecture === 'jumprelu') {
        const threshold = sae.threshold!;
        for (let j = 0; j < dSae; j++) {
          const value = pre[source + j]!;
          out[target + j] = value > threshold[j]! ? Math.max(0, value) : 0;
        }
      } else {
        // The k largest pre-activations, ties to the lower index (ONNX TopK's order), then ReLU on those alone.
        const row = pre.subarray(source, source + dSae);
        for (let j = 0; j < dSae; j++) order![j] = j;
        const k = sae.k!;
        const top = selectTop(order!, row, k);
        for (let t = 0; t < k; t++) {
          const j = top[t]!;
          out[target + j] = Math.max(0, row[j]!);
        }
      }
    }
  }
  return out;
}

/** Indices of the k largest values (in no particular order; ties go to the lower index), by quickselect. */
function selectTop(indices: Int32Array, values: Float64Array, k: number): Int32Array {
  const before = (a: number, b: number) => values[a]! > values[b]! || (values[a] === values[b] && a < b);
  // A strict total order (ties broken by index), so Hoare partitioning never meets equal elements.
  let lo = 0;
  let hi = indices.length - 1;
  while (lo < hi) {
    const pivot = indices[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (before(indices[i]!, pivot)) i++;
      while (before(pivot, indices[j]!)) j--;
      if (i <= j) {
        const t = indices[i]!;
        indices[i] = indices[j]!;
        indices[j] = t;
        i++;
        j--;
      }
    }
    if (k - 1 <= j) hi = j;
    else if (k - 1 >= i) lo = i;
    else break;
  }
  return indices.subarray(0, k);
}

function checkInput(sae: SaeEncoder, x: Float32Array, rows: number): void {
  if (!Number.isSafeInteger(rows) || rows < 0 || x.length !== rows * sae.dIn) {
    throw new Error(`SAE encoder: expected ${rows} x ${sae.dIn} hook values, got ${x.length}`);
  }
}
