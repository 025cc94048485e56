import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isExpgenError } from '@expgen/contract';
import { parseLlamaConfig, readLlamaConfig, ropeInverseFrequencies } from './hf-config.js';

/** config.json of meta-llama/Llama-3.1-8B-Instruct. */
const LLAMA31_8B = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  hidden_act: 'silu',
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 14336,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: {
    factor: 8.0,
    low_freq_factor: 1.0,
    high_freq_factor: 4.0,
    original_max_position_embeddings: 8192,
    rope_type: 'llama3',
  },
  rope_theta: 500000.0,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.43.0.dev0',
  use_cache: true,
  vocab_size: 128256,
};

/** config.json of meta-llama/Llama-3.2-1B-Instruct. */
const LLAMA32_1B = {
  ...LLAMA31_8B,
  head_dim: 64,
  hidden_size: 2048,
  intermediate_size: 8192,
  num_hidden_layers: 16,
  rope_scaling: {
    factor: 32.0,
    high_freq_factor: 4.0,
    low_freq_factor: 1.0,
    original_max_position_embeddings: 8192,
    rope_type: 'llama3',
  },
  tie_word_embeddings: true,
};

function expectError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(isExpgenError(error), `expected an ExpgenError, got ${String(error)}`);
    assert.match((error as Error).message, pattern);
    assert.doesNotMatch((error as Error).message, /\n/);
    return true;
  });
}

test('reads the Llama-3.1-8B config with the documented facts', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'expgen-config-'));
  try {
    await writeFile(join(dir, 'config.json'), JSON.stringify(LLAMA31_8B));
    const config = await readLlamaConfig(dir);
    assert.deepEqual(config, {
      architecture: 'LlamaForCausalLM',
      vocabSize: 128256,
      hiddenSize: 4096,
      intermediateSize: 14336,
      numLayers: 32,
      numHeads: 32,
      numKvHeads: 8,
      headDim: 128,
      rmsNormEps: 1e-5,
      ropeTheta: 500000,
      ropeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
      tieWordEmbeddings: false,
      maxPositionEmbeddings: 131072,
      bosTokenId: 128000,
      eosTokenIds: [128001, 128008, 128009],
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('reads the Llama-3.2-1B config: explicit head_dim, tied embeddings, factor 32', () => {
  const config = parseLlamaConfig(LLAMA32_1B);
  assert.equal(config.headDim, 64);
  assert.equal(config.tieWordEmbeddings, true);
  assert.equal(config.ropeScaling?.factor, 32);
});

test('applies transformers defaults for optional keys', () => {
  const config = parseLlamaConfig({
    model_type: 'llama',
    vocab_size: 100,
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 4,
  });
  assert.equal(config.numKvHeads, 4);
  assert.equal(config.headDim, 16);
  assert.equal(config.rmsNormEps, 1e-6);
  assert.equal(config.ropeTheta, 10000);
  assert.equal(config.ropeScaling, null);
  assert.equal(config.tieWordEmbeddings, false);
  assert.equal(config.bosTokenId, null);
  assert.deepEqual(config.eosTokenIds, []);
  // A single eos id and legacy "type" key are accepted too.
  const legacy = parseLlamaConfig({
    ...LLAMA31_8B,
    eos_token_id: 128009,
    rope_scaling: { ...LLAMA31_8B.rope_scaling, rope_type: undefined, type: 'llama3' },
  });
  assert.deepEqual(legacy.eosTokenIds, [128009]);
  assert.equal(legacy.ropeScaling?.factor, 8);
  assert.equal(parseLlamaConfig({ ...LLAMA31_8B, rope_scaling: { rope_type: 'default' } }).ropeScaling, null);
});

test('rejects wrong architectures, keys and types with one-line messages naming file and key', () => {
  const f = 'model/config.json';
  expectError(
    () => parseLlamaConfig({ ...LLAMA31_8B, num_key_value_heads: 3 }, f),
    /^model\/config\.json: key "num_key_value_heads" must be a positive integer dividing num_attention_heads \(found 3\)$/,
  );
  expectError(
    () => parseLlamaConfig({ ...LLAMA31_8B, architectures: ['MistralForCausalLM'] }, f),
    /model\/config\.json: key "architectures" must include "LlamaForCausalLM"/,
  );
  expectError(
    () => parseLlamaConfig({ ...LLAMA31_8B, model_type: 'qwen2' }, f),
    /key "model_type" must be "llama" \(found "qwen2"\)/,
  );
  const { architectures: _a, model_type: _m, ...anonymous } = LLAMA31_8B;
  expectError(() => parseLlamaConfig(anonymous, f), /key "model_type" must be "llama" \(missing\)/);
  const { hidden_size: _h, ...noHidden } = LLAMA31_8B;
  expectError(() => parseLlamaConfig(noHidden, f), /key "hidden_size" must be a positive integer \(missing\)/);
  expectError(
    () => parseLlamaConfig({ ...LLAMA31_8B, hidden_size: '4096' }, f),
    /key "hidden_size" must be a positive integer \(found "4096"\)/,
  );
  expectError(
    () => parseLlamaConfig({ ...LLAMA31_8B, rms_norm_eps: -1 }, f),
    /key "rms_norm_eps" must be a positive number/,
  );
  expectError(
    () => parseLlamaConfig({ ...LLAMA31_8B, tie_word_embeddings: 'no' }, f),
    /key "tie_word_embeddings" must be true or false/,
  );
  expectError(() => parseLlamaConfig({ ...LLAMA31_8B, attention_bias: true }, f), /key "attention_bias" must be false/);
  expectError(() => parseLlamaConfig({ ...LLAMA31_8B, hidden_act: 'gelu' }, f), /key "hidden_act" must be "silu"/);
  expectError(
    () => parseLlamaConfig({ ...LLAMA31_8B, eos_token_id: [128001, 999999] }, f),
    /key "eos_token_id" must be a token id/,
  );
  expectError(
    () => parseLlamaConfig({ ...LLAMA31_8B, rope_scaling: { rope_type: 'linear', factor: 2 } }, f),
    /key "rope_scaling\.rope_type" is "linear"; only "llama3"/,
  );
  expectError(
    () =>
      parseLlamaConfig({ ...LLAMA31_8B, rope_scaling: { ...LLAMA31_8B.rope_scaling, low_freq_factor: undefined } }, f),
    /key "rope_scaling\.low_freq_factor" must be a positive number \(found missing\)/,
  );
  expectError(
    () => parseLlamaConfig({ ...LLAMA31_8B, num_attention_heads: 24, num_key_value_heads: 8 }, f),
    /key "num_attention_heads" must divide hidden_size/,
  );
  expectError(() => parseLlamaConfig([], f), /must be a JSON object/);
});

test('reports a missing or malformed config.json by path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'expgen-config-'));
  try {
    await assert.rejects(
      readLlamaConfig(dir),
      (e: Error) => isExpgenError(e) && e.message.includes(join(dir, 'config.json')) && /ENOENT/.test(e.message),
    );
    await writeFile(join(dir, 'config.json'), '{ "vocab_size": ');
    await assert.rejects(
      readLlamaConfig(dir),
      (e: Error) => isExpgenError(e) && /config\.json: not valid JSON/.test(e.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("rope inverse frequencies follow transformers' Llama-3 scaling", () => {
  const inv = ropeInverseFrequencies(parseLlamaConfig(LLAMA31_8B));
  assert.equal(inv.length, 64);
  // Reference values: transformers' _compute_llama3_parameters evaluated in float64 (numpy). With head_dim 128,
  // theta 500,000, original context 8,192: wavelengths below 2,048 (i <= 28) are kept, those above 8,192
  // (i >= 35) are divided by 8, and i = 29..34 are interpolated.
  const expected: [number, number][] = [
    [0, 1.0],
    [1, 0.8146172338565447],
    [20, 0.016560440080994446],
    [28, 0.0032114459947525913],
    [29, 0.002166570763503359],
    [30, 0.0013718935677611381],
    [34, 0.00017850781276799638],
    [35, 9.556212353964683e-5],
    [40, 3.428102195952591e-5],
    [63, 3.068925988914511e-7],
  ];
  for (const [i, value] of expected)
    assert.ok(Math.abs(inv[i]! - value) <= 1e-12 * value, `inv[${i}] = ${inv[i]}, expected ${value}`);

  // i = 30 by hand: base frequency 500000^(-60/128); wavelength 2*pi/base; smooth = (8192/wavelength - 1)/(4 - 1);
  // result (1 - smooth) * base / 8 + smooth * base.
  const base = 500000 ** (-60 / 128);
  const smooth = (8192 / ((2 * Math.PI) / base) - 1) / 3;
  assert.ok(smooth > 0 && smooth < 1);
  assert.ok(Math.abs(inv[30]! - (((1 - smooth) * base) / 8 + smooth * base)) < 1e-18);
  // Unscaled frequencies are the plain theta^(-2i/d) series.
  const plain = ropeInverseFrequencies({ ...parseLlamaConfig(LLAMA31_8B), ropeScaling: null });
  assert.equal(plain[63], 1 / 500000 ** (126 / 128));

  const small = ropeInverseFrequencies(parseLlamaConfig(LLAMA32_1B));
  const expected1b: [number, number][] = [
    [0, 1.0],
    [15, 0.001290547928209264],
    [22, 3.7740542941082826e-6],
    [31, 9.418306725434911e-8],
  ];
  for (const [i, value] of expected1b)
    assert.ok(Math.abs(small[i]! - value) <= 1e-12 * value, `1B inv[${i}] = ${small[i]}, expected ${value}`);
});
