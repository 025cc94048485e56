// The Hugging Face `config.json` of a Llama-family checkpoint, checked and normalized. Defaults follow
// transformers' LlamaConfig, so a config that loads there means the same model here.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExpgenError } from '@expgen/contract';

export interface LlamaRopeScaling {
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositionEmbeddings: number;
}

export interface LlamaConfig {
  architecture: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: {
    factor: number;
    lowFreqFactor: number;
    highFreqFactor: number;
    originalMaxPositionEmbeddings: number;
  } | null;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

export const LLAMA_ARCHITECTURE = 'LlamaForCausalLM';

/** Reads and validates `<dir>/config.json`. */
export async function readLlamaConfig(dir: string): Promise<LlamaConfig> {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ExpgenError(
      `${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); point to a Hugging Face model folder that has a config.json`,
      { cause: error },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ExpgenError(
      `${file}: not valid JSON (${(error as Error).message}); re-download the model's config.json`,
      { cause: error },
    );
  }
  return parseLlamaConfig(json, file);
}

/** Validates a parsed `config.json`; `file` names it in error messages. */
export function parseLlamaConfig(json: unknown, file = 'config.json'): LlamaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ExpgenError(`${file}: must be a JSON object; re-download the model's config.json`);
  }
  const raw = json as Record<string, unknown>;
  const fail = (key: string, requirement: string, hint = ''): never => {
    const found = key in raw ? `found ${JSON.stringify(raw[key])}` : 'missing';
    throw new ExpgenError(`${file}: key "${key}" ${requirement} (${found})${hint}`);
  };

  const architectures = raw['architectures'];
  const modelType = raw['model_type'];
  if (architectures === undefined && modelType === undefined) {
    fail('model_type', 'must be "llama"', '; expgen builds Llama-family models only');
  }
  if (architectures !== undefined && (!Array.isArray(architectures) || !architectures.includes(LLAMA_ARCHITECTURE))) {
    fail('architectures', `must include "${LLAMA_ARCHITECTURE}"`, '; expgen builds Llama-family models only');
  }
  if (modelType !== undefined && modelType !== 'llama')
    fail('model_type', 'must be "llama"', '; expgen builds Llama-family models only');

  const positiveInt = (key: string, fallback?: number): number => {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0)
      fail(key, 'must be a positive integer');
    return value as number;
  };
  const positiveNumber = (key: string, fallback?: number): number => {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) fail(key, 'must be a positive number');
    return value as number;
  };
  const optionalFlag = (key: string, fallback: boolean): boolean => {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'boolean') fail(key, 'must be true or false');
    return value as boolean;
  };

  const vocabSize = positiveInt('vocab_size');
  const hiddenSize = positiveInt('hidden_size');
  const intermediateSize = positiveInt('intermediate_size');
  const numLayers = positiveInt('num_hidden_layers');
  const numHeads = positiveInt('num_attention_heads');
  const numKvHeads = positiveInt('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0)
    fail('num_key_value_heads', 'must be a positive integer dividing num_attention_heads');
  let headDim: number;
  if (raw['head_dim'] === undefined || raw['head_dim'] === null) {
    if (hiddenSize % numHeads !== 0)
      fail('num_attention_heads', 'must divide hidden_size when "head_dim" is not given');
    headDim = hiddenSize / numHeads;
  } else {
    headDim = positiveInt('head_dim');
  }
  // Rotary embeddings rotate pairs (i, i + headDim/2), so the head size must be even.
  if (headDim % 2 !== 0)
    fail(
      raw['head_dim'] === undefined ? 'hidden_size' : 'head_dim',
      `must give an even head size (head size ${headDim})`,
    );

  // Variants of the architecture this builder does not implement: refuse rather than compute a different model.
  if (raw['hidden_act'] !== undefined && raw['hidden_act'] !== 'silu')
    fail('hidden_act', 'must be "silu"', '; expgen implements the SwiGLU MLP of Llama only');
  if (optionalFlag('attention_bias', false))
    fail('attention_bias', 'must be false', '; expgen implements bias-free attention projections only');
  if (optionalFlag('mlp_bias', false))
    fail('mlp_bias', 'must be false', '; expgen implements bias-free MLP projections only');

  const maxPositionEmbeddings = positiveInt('max_position_embeddings', 2048);
  const ropeScaling = parseRopeScaling(raw['rope_scaling'], file);

  return {
    architecture: LLAMA_ARCHITECTURE,
    vocabSize,
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: positiveNumber('rms_norm_eps', 1e-6),
    ropeTheta: positiveNumber('rope_theta', 10000),
    ropeScaling,
    tieWordEmbeddings: optionalFlag('tie_word_embeddings', false),
    maxPositionEmbeddings,
    bosTokenId: optionalTokenId(raw, 'bos_token_id', vocabSize, fail),
    eosTokenIds: eosTokenIds(raw, vocabSize, fail),
  };
}

function optionalTokenId(
  raw: Record<string, unknown>,
  key: string,
  vocabSize: number,
  fail: (key: string, requirement: string) => never,
): number | null {
  const value = raw[key];
  if (value === undefined || value === null) return null;
  if (!isTokenId(value, vocabSize)) fail(key, `must be a token id below vocab_size ${vocabSize}, or null`);
  return value as number;
}

function eosTokenIds(
  raw: Record<string, unknown>,
  vocabSize: number,
  fail: (key: string, requirement: string) => never,
): number[] {
  const value = raw['eos_token_id'];
  if (value === undefined || value === null) return [];
  const ids = Array.isArray(value) ? value : [value];
  if (!ids.every((id) => isTokenId(id, vocabSize)))
    fail('eos_token_id', `must be a token id or a list of token ids below vocab_size ${vocabSize}`);
  return ids as number[];
}

function isTokenId(value: unknown, vocabSize: number): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value < vocabSize;
}

function parseRopeScaling(value: unknown, file: string): LlamaConfig['ropeScaling'] {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ExpgenError(`${file}: key "rope_scaling" must be an object or null (found ${JSON.stringify(value)})`);
  }
  const scaling = value as Record<string, unknown>;
  // transformers renamed "type" to "rope_type"; checkpoints in the wild use both.
  const typeKey = scaling['rope_type'] !== undefined ? 'rope_type' : 'type';
  const ropeType = scaling[typeKey];
  if (ropeType === 'default') return null;
  if (ropeType !== 'llama3') {
    throw new ExpgenError(
      `${file}: key "rope_scaling.${typeKey}" is ${JSON.stringify(ropeType)}; only "llama3" (and "default") rope scaling is supported, use a Llama-3-family checkpoint`,
    );
  }
  const number = (key: string): number => {
    const v = scaling[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new ExpgenError(
        `${file}: key "rope_scaling.${key}" must be a positive number (found ${v === undefined ? 'missing' : JSON.stringify(v)})`,
      );
    }
    return v;
  };
  const factor = number('factor');
  const lowFreqFactor = number('low_freq_factor');
  const highFreqFactor = number('high_freq_factor');
  const originalMaxPositionEmbeddings = number('original_max_position_embeddings');
  if (highFreqFactor <= lowFreqFactor) {
    // The smoothing interpolates over (low, high); with high <= low it divides by zero or flips sign.
    throw new ExpgenError(
      `${file}: key "rope_scaling.high_freq_factor" must exceed low_freq_factor (found ${highFreqFactor} <= ${lowFreqFactor})`,
    );
  }
  return { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings };
}

/**
 * Rotary inverse frequencies, one per pair of head dimensions (headDim / 2 values), with Llama-3 scaling applied
 * as transformers' `_compute_llama3_parameters` does: wavelengths shorter than original/high_freq_factor are kept,
 * those longer than original/low_freq_factor are divided by `factor`, and the band between is interpolated.
 * Computed in float64; transformers works in float32, so values agree to float32 precision.
 */
export function ropeInverseFrequencies(config: LlamaConfig): Float64Array {
  const half = config.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / config.ropeTheta ** ((2 * i) / config.headDim);
  const scaling = config.ropeScaling;
  if (scaling === null) return inv;
  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: oldContext } = scaling;
  const lowFreqWavelen = oldContext / lowFreqFactor;
  const highFreqWavelen = oldContext / highFreqFactor;
  for (let i = 0; i < half; i++) {
    const wavelen = (2 * Math.PI) / inv[i]!;
    if (wavelen < highFreqWavelen) continue;
    if (wavelen > lowFreqWavelen) {
      inv[i] = inv[i]! / factor;
      continue;
    }
    const smooth = (oldContext / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
    inv[i] = ((1 - smooth) * inv[i]!) / factor + smooth * inv[i]!;
  }
  return inv;
}
