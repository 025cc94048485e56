// An independent Llama forward pass in plain TypeScript, written from the transformers modeling code and
// sharing nothing with the ONNX graph builder, so that the two can check each other. It accumulates in float64
// and is meant for tiny models: it holds every weight as float32 in memory and does no batching.
import { ExpgenError } from '@expgen/contract';
import type { LlamaConfig } from '../hf/hf-config.js';
import type { SafetensorsStore } from '@expgen/plugin-kit';
import { llamaTensorNames, llamaTensorShape } from '../hf/tiny-model.js';

export interface ReferenceOutput {
  /**
   * `mlp/L`: per token, the input of layer L's down_proj, silu(gate(x)) * up(x) [intermediate].
   * `resid/L`: per token, the residual stream output by decoder layer L, before the final norm [hidden].
   */
  hooks: Map<string, Float32Array[]>;
  /** Per position, the next-token logits [vocab]. */
  logits: Float32Array[];
}

/** x * rsqrt(mean(x^2) + eps) * weight, as LlamaRMSNorm (which computes in float32 or wider). */
export function rmsNorm(x: Float64Array, weight: Float32Array, eps: number): Float64Array {
  let sumSquares = 0;
  for (let i = 0; i < x.length; i++) sumSquares += x[i]! * x[i]!;
  const scale = 1 / Math.sqrt(sumSquares / x.length + eps);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! * scale * weight[i]!;
  return out;
}

/** y = W x for a PyTorch linear weight W stored [out, in] row-major. */
export function linear(weight: Float32Array, x: Float64Array, outFeatures: number): Float64Array {
  const inFeatures = x.length;
  const y = new Float64Array(outFeatures);
  for (let o = 0; o < outFeatures; o++) {
    let sum = 0;
    const row = o * inFeatures;
    for (let i = 0; i < inFeatures; i++) sum += weight[row + i]! * x[i]!;
    y[o] = sum;
  }
  return y;
}

export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/**
 * Applies rotary embeddings in place to `heads` consecutive vectors of `headDim` values, in the "rotate half"
 * layout of transformers: dimension d < headDim/2 pairs with d + headDim/2, both using frequency inv[d].
 */
export function applyRotary(
  vectors: Float64Array,
  heads: number,
  headDim: number,
  position: number,
  inv: Float64Array,
): void {
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    const base = h * headDim;
    for (let d = 0; d < half; d++) {
      const angle = position * inv[d]!;
      const cos = Math.cos(angle);
      const sin = Math.sin(angle);
      const a = vectors[base + d]!;
      const b = vectors[base + d + half]!;
      vectors[base + d] = a * cos - b * sin;
      vectors[base + d + half] = b * cos + a * sin;
    }
  }
}

/**
 * Rotary inverse frequencies with Llama-3 scaling, transcribed separately from transformers'
 * `_compute_llama3_parameters` (mask by mask, as written there) rather than shared with the graph builder's
 * `ropeInverseFrequencies`, so a slip in one shows up as a disagreement between the two.
 */
export function referenceInverseFrequencies(config: LlamaConfig): Float64Array {
  const dim = config.headDim;
  const inv = Float64Array.from({ length: dim / 2 }, (_, i) => 1 / config.ropeTheta ** ((2 * i) / dim));
  const scaling = config.ropeScaling;
  if (scaling === null) return inv;
  const lowFreqWavelen = scaling.originalMaxPositionEmbeddings / scaling.lowFreqFactor;
  const highFreqWavelen = scaling.originalMaxPositionEmbeddings / scaling.highFreqFactor;
  return inv.map((base) => {
    const wavelen = (2 * Math.PI) / base;
    // inv_freq_llama = where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    const llama = wavelen > lowFreqWavelen ? base / scaling.factor : base;
    const smoothFactor =
      (scaling.originalMaxPositionEmbeddings / wavelen - scaling.lowFreqFactor) /
      (scaling.highFreqFactor - scaling.lowFreqFactor);
    const smoothed = ((1 - smoothFactor) * llama) / scaling.factor + smoothFactor * llama;
    const isMediumFreq = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    return isMediumFreq ? smoothed : llama;
  });
}

/**
 * Runs `tokens` (one sequence, positions 0..n-1, causal) through the model. `weights(name)` returns a tensor by
 * its Hugging Face name, row-major.
 */
export function referenceForward(
  config: LlamaConfig,
  weights: (name: string) => Float32Array,
  tokens: number[],
): ReferenceOutput {
  const {
    hiddenSize: hidden,
    intermediateSize: inter,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize,
    rmsNormEps: eps,
  } = config;
  const weight = (name: string): Float32Array => {
    const w = weights(name);
    const expected = llamaTensorShape(config, name).reduce((a, b) => a * b, 1);
    if (w.length !== expected) {
      throw new ExpgenError(
        `tensor "${name}" has ${w.length} values but the config implies ${JSON.stringify(llamaTensorShape(config, name))}; the weights and config.json do not match`,
      );
    }
    return w;
  };
  const n = tokens.length;
  const inv = referenceInverseFrequencies(config);
  const groupSize = numHeads / numKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const hooks = new Map<string, Float32Array[]>();

  const embed = weight('model.embed_tokens.weight');
  const residual: Float64Array[] = tokens.map((id, t) => {
    if (!Number.isSafeInteger(id) || id < 0 || id >= vocabSize) {
      throw new ExpgenError(`token ${t} has id ${id}, outside the model's vocabulary (0..${vocabSize - 1})`);
    }
    return Float64Array.from(embed.subarray(id * hidden, (id + 1) * hidden));
  });

  for (let layer = 0; layer < config.numLayers; layer++) {
    const p = `model.layers.${layer}`;
    const inputNorm = weight(`${p}.input_layernorm.weight`);
    const wq = weight(`${p}.self_attn.q_proj.weight`);
    const wk = weight(`${p}.self_attn.k_proj.weight`);
    const wv = weight(`${p}.self_attn.v_proj.weight`);
    const wo = weight(`${p}.self_attn.o_proj.weight`);

    const queries: Float64Array[] = [];
    const keys: Float64Array[] = [];
    const values: Float64Array[] = [];
    for (let t = 0; t < n; t++) {
      const x = rmsNorm(residual[t]!, inputNorm, eps);
      const q = linear(wq, x, numHeads * headDim);
      const k = linear(wk, x, numKvHeads * headDim);
      applyRotary(q, numHeads, headDim, t, inv);
      applyRotary(k, numKvHeads, headDim, t, inv);
      queries.push(q);
      keys.push(k);
      values.push(linear(wv, x, numKvHeads * headDim));
    }

    for (let t = 0; t < n; t++) {
      const attended = new Float64Array(numHeads * headDim);
      for (let h = 0; h < numHeads; h++) {
        // Grouped-query attention: query heads [g * groupSize, (g + 1) * groupSize) share key/value head g.
        const kvBase = Math.floor(h / groupSize) * headDim;
        const qBase = h * headDim;
        const scores = new Float64Array(t + 1);
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += queries[t]![qBase + d]! * keys[s]![kvBase + d]!;
          scores[s] = dot * scale;
          if (scores[s]! > max) max = scores[s]!;
        }
        let total = 0;
        for (let s = 0; s <= t; s++) {
          scores[s] = Math.exp(scores[s]! - max);
          total += scores[s]!;
        }
        for (let s = 0; s <= t; s++) {
          const probability = scores[s]! / total;
          for (let d = 0; d < headDim; d++) attended[qBase + d]! += probability * values[s]![kvBase + d]!;
        }
      }
      const out = linear(wo, attended, hidden);
      for (let i = 0; i < hidden; i++) residual[t]![i]! += out[i]!;
    }

    const postNorm = weight(`${p}.post_attention_layernorm.weight`);
    const wGate = weight(`${p}.mlp.gate_proj.weight`);
    const wUp = weight(`${p}.mlp.up_proj.weight`);
    const wDown = weight(`${p}.mlp.down_proj.weight`);
    const mlpHook: Float32Array[] = [];
    const residHook: Float32Array[] = [];
    for (let t = 0; t < n; t++) {
      const x = rmsNorm(residual[t]!, postNorm, eps);
      const gate = linear(wGate, x, inter);
      const up = linear(wUp, x, inter);
      const act = new Float64Array(inter);
      for (let j = 0; j < inter; j++) act[j] = silu(gate[j]!) * up[j]!;
      mlpHook.push(Float32Array.from(act));
      const down = linear(wDown, act, hidden);
      for (let i = 0; i < hidden; i++) residual[t]![i]! += down[i]!;
      residHook.push(Float32Array.from(residual[t]!));
    }
    hooks.set(`mlp/${layer}`, mlpHook);
    hooks.set(`resid/${layer}`, residHook);
  }

  const finalNorm = weight('model.norm.weight');
  const head = config.tieWordEmbeddings ? embed : weight('lm_head.weight');
  const logits = residual.map((r) => Float32Array.from(linear(head, rmsNorm(r, finalNorm, eps), vocabSize)));
  return { hooks, logits };
}

/**
 * Reads every tensor the config needs into memory (float32) and returns a synchronous lookup, which is what
 * `referenceForward` takes. Only for small models: an 8B model would need 32 GB.
 */
export async function loadReferenceWeights(
  store: SafetensorsStore,
  config?: Pick<LlamaConfig, 'numLayers' | 'tieWordEmbeddings'>,
): Promise<(name: string) => Float32Array> {
  const names = config === undefined ? store.names() : llamaTensorNames(config);
  const tensors = new Map<string, Float32Array>();
  for (const name of names) tensors.set(name, await store.readFloat32(name));
  return (name: string) => {
    const tensor = tensors.get(name);
    if (tensor === undefined)
      throw new ExpgenError(
        `reference weights: no tensor named "${name}" was loaded; the checkpoint does not match config.json`,
      );
    return tensor;
  };
}
