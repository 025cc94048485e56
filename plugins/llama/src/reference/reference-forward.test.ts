import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isExpgenError } from '@expgen/contract';
import { type LlamaConfig, ropeInverseFrequencies } from '../hf/hf-config.js';
import { SafetensorsStore, Sfc32 } from '@expgen/plugin-kit';
import { generateTinyLlama, llamaTensorNames, llamaTensorShape } from '../hf/tiny-model.js';
import {
  applyRotary,
  loadReferenceWeights,
  referenceForward,
  referenceInverseFrequencies,
  rmsNorm,
  silu,
} from './reference-forward.js';

function makeConfig(overrides: Partial<LlamaConfig>): LlamaConfig {
  return {
    architecture: 'LlamaForCausalLM',
    vocabSize: 3,
    hiddenSize: 4,
    intermediateSize: 3,
    numLayers: 1,
    numHeads: 2,
    numKvHeads: 1,
    headDim: 2,
    rmsNormEps: 1e-12,
    ropeTheta: 10000,
    ropeScaling: null,
    tieWordEmbeddings: true,
    maxPositionEmbeddings: 128,
    bosTokenId: null,
    eosTokenIds: [],
    ...overrides,
  };
}

/** Weights for `config`: zeros, norms of ones, unless given. */
function makeWeights(config: LlamaConfig, given: Record<string, number[]>): (name: string) => Float32Array {
  const tensors = new Map<string, Float32Array>();
  for (const name of llamaTensorNames(config)) {
    const count = llamaTensorShape(config, name).reduce((a, b) => a * b, 1);
    const values = given[name] ?? new Array<number>(count).fill(name.endsWith('norm.weight') ? 1 : 0);
    assert.equal(values.length, count, name);
    tensors.set(name, Float32Array.from(values));
  }
  return (name) => tensors.get(name)!;
}

function identity(n: number): number[] {
  return Array.from({ length: n * n }, (_, i) => (Math.floor(i / n) === i % n ? 1 : 0));
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-6, what = ''): void {
  assert.equal(actual.length, expected.length, `${what} length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= tolerance * Math.max(1, Math.abs(expected[i]!)),
      `${what}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

test('RMSNorm is x / sqrt(mean(x^2) + eps) * w', () => {
  const out = rmsNorm(Float64Array.from([1, 2, 3, 4]), Float32Array.from([1, 1, 2, 0.5]), 1e-5);
  const s = 1 / Math.sqrt(30 / 4 + 1e-5); // mean of squares 7.5
  assertClose(out, [s, 2 * s, 6 * s, 2 * s], 1e-15);
});

test('rotary: identity at position 0, rotate-half pairs (d, d + half), relative positions', () => {
  const inv = Float64Array.from([1, 0.5]);
  const v = Float64Array.from([1, 2, 3, 4]);
  applyRotary(v, 1, 4, 0, inv);
  assert.deepEqual([...v], [1, 2, 3, 4]);
  // e_0 at position p: dimension 0 pairs with dimension 2 at angle p * inv[0].
  const e0 = Float64Array.from([1, 0, 0, 0]);
  applyRotary(e0, 1, 4, 3, inv);
  assertClose(e0, [Math.cos(3), 0, Math.sin(3), 0], 1e-15);
  // e_1 pairs with dimension 3 at angle p * inv[1]; two heads rotate independently.
  const twoHeads = Float64Array.from([0, 1, 0, 0, 0, 0, 0, 1]);
  applyRotary(twoHeads, 2, 4, 2, inv);
  assertClose(twoHeads, [0, Math.cos(1), 0, Math.sin(1), 0, -Math.sin(1), 0, Math.cos(1)], 1e-15);
  // q(t) . k(s) depends on t - s only.
  const dot = (t: number, s: number) => {
    const q = Float64Array.from([0.3, -1, 2, 0.5]);
    const k = Float64Array.from([1.5, 0.2, -0.7, 1]);
    applyRotary(q, 1, 4, t, inv);
    applyRotary(k, 1, 4, s, inv);
    return q.reduce((a, x, i) => a + x * k[i]!, 0);
  };
  assert.ok(Math.abs(dot(5, 3) - dot(12, 10)) < 1e-12);
});

test("its own rope frequencies agree with the graph builder's and with transformers' values", () => {
  const llama31 = makeConfig({
    headDim: 128,
    ropeTheta: 500000,
    ropeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
  });
  const mine = referenceInverseFrequencies(llama31);
  const builder = ropeInverseFrequencies(llama31);
  for (let i = 0; i < 64; i++) assert.ok(Math.abs(mine[i]! - builder[i]!) <= 1e-15 * builder[i]!, `i = ${i}`);
  // transformers' values (float64 evaluation): unchanged, interpolated, divided by 8.
  assert.equal(mine[0], 1);
  assert.ok(Math.abs(mine[30]! - 0.0013718935677611381) < 1e-17);
  assert.ok(Math.abs(mine[40]! - 3.428102195952591e-5) < 1e-19);
  assert.deepEqual([...referenceInverseFrequencies(makeConfig({ headDim: 4, ropeTheta: 100 }))], [1, 0.1]);
});

test('the first token attends only to itself: its attention output is its own value vector', () => {
  const config = makeConfig({});
  const embed = [0.5, -1, 2, 1, /* token 1 */ 1, 1, 1, 1, /* token 2 */ -3, 0.5, 0.25, 2];
  const wv = [1, 0, 2, 0, /* kv dim 1 */ 0, -1, 0, 3];
  const weights = makeWeights(config, {
    'model.embed_tokens.weight': embed,
    'model.layers.0.self_attn.q_proj.weight': [0.3, 1, -2, 0.1, 1, 1, 0, 2, -1, 0.5, 0.5, 0.5, 2, 0, 0, 1],
    'model.layers.0.self_attn.k_proj.weight': [1, -1, 0.5, 2, 0, 1, 1, -1],
    'model.layers.0.self_attn.v_proj.weight': wv,
    'model.layers.0.self_attn.o_proj.weight': identity(4),
  });
  const { hooks } = referenceForward(config, weights, [0]);
  const x = rmsNorm(Float64Array.from(embed.slice(0, 4)), Float32Array.from([1, 1, 1, 1]), 1e-12);
  const v = [x[0]! + 2 * x[2]!, -x[1]! + 3 * x[3]!];
  // Both query heads share the single kv head, and o_proj is the identity: hidden = [v, v].
  assertClose(hooks.get('resid/0')![0]!, [0.5 + v[0]!, -1 + v[1]!, 2 + v[0]!, 1 + v[1]!], 1e-6);
  // The zero MLP contributes nothing and its hook is silu(0) * 0.
  assert.deepEqual([...hooks.get('mlp/0')![0]!], [0, 0, 0]);
});

test('grouped-query attention maps query heads [0, 1] to kv head 0 and [2, 3] to kv head 1', () => {
  const config = makeConfig({
    hiddenSize: 8,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 2,
    vocabSize: 1,
    intermediateSize: 2,
  });
  const embed = [1, 2, 3, 4, 5, 6, 7, 8];
  // v rows pick hidden dims: kv head 0 = (x0, x1), kv head 1 = (x6, x7).
  const wv = [
    ...[1, 0, 0, 0, 0, 0, 0, 0],
    ...[0, 1, 0, 0, 0, 0, 0, 0],
    ...[0, 0, 0, 0, 0, 0, 1, 0],
    ...[0, 0, 0, 0, 0, 0, 0, 1],
  ];
  const weights = makeWeights(config, {
    'model.embed_tokens.weight': embed,
    'model.layers.0.self_attn.v_proj.weight': wv,
    'model.layers.0.self_attn.o_proj.weight': identity(8),
  });
  const { hooks } = referenceForward(config, weights, [0]);
  const x = rmsNorm(Float64Array.from(embed), new Float32Array(8).fill(1), 1e-12);
  const attended = [x[0]!, x[1]!, x[0]!, x[1]!, x[6]!, x[7]!, x[6]!, x[7]!];
  assertClose(
    hooks.get('resid/0')![0]!,
    embed.map((e, i) => e + attended[i]!),
    1e-6,
  );
});

test('causal attention with equal scores averages the visible values; earlier tokens ignore later ones', () => {
  const config = makeConfig({});
  const embed = [1, 0, 0, 0, /* token 1 */ 0, 2, 0, 0, /* token 2 */ 0, 0, 0, 5];
  const weights = makeWeights(config, {
    'model.embed_tokens.weight': embed,
    // q = 0 gives every visible position score 0, i.e. uniform attention.
    'model.layers.0.self_attn.k_proj.weight': [1, 1, 1, 1, 1, -1, 1, -1],
    'model.layers.0.self_attn.v_proj.weight': [1, 0, 0, 0, 0, 1, 0, 1],
    'model.layers.0.self_attn.o_proj.weight': identity(4),
  });
  const both = referenceForward(config, weights, [0, 1]);
  const alone = referenceForward(config, weights, [0]);
  assert.deepEqual([...both.hooks.get('resid/0')![0]!], [...alone.hooks.get('resid/0')![0]!]);
  // rmsNorm([1,0,0,0]) = [2,0,0,0]; rmsNorm([0,2,0,0]) = [0,2,0,0]. v = (x0, x1 + x3).
  const v0 = [2, 0];
  const v1 = [0, 2];
  const mean = [(v0[0]! + v1[0]!) / 2, (v0[1]! + v1[1]!) / 2];
  assertClose(both.hooks.get('resid/0')![1]!, [0 + mean[0]!, 2 + mean[1]!, mean[0]!, mean[1]!], 1e-6);
});

test('the MLP hook is silu(gate(x)) * up(x), the input of down_proj', () => {
  const config = makeConfig({ intermediateSize: 3 });
  const weights = makeWeights(config, {
    'model.embed_tokens.weight': [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0],
    'model.layers.0.mlp.gate_proj.weight': [1, 0, 0, 0, 0, -1, 0, 0, 0.5, 0.5, 0, 0],
    'model.layers.0.mlp.up_proj.weight': [2, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, -1],
    'model.layers.0.mlp.down_proj.weight': [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0],
  });
  const { hooks, logits } = referenceForward(config, weights, [0]);
  // Attention weights are zero, so the MLP sees rmsNorm([1,1,1,1]) = [1,1,1,1]: gate = [1,-1,1], up = [2,3,-1].
  const silu1 = 0.7310585786300049;
  const siluMinus1 = -0.2689414213699951;
  assert.ok(Math.abs(silu(1) - silu1) < 1e-15 && Math.abs(silu(-1) - siluMinus1) < 1e-15);
  const act = [2 * silu1, 3 * siluMinus1, -silu1];
  assertClose(hooks.get('mlp/0')![0]!, act, 1e-6);
  const resid = [1 + act[0]!, 1 + act[1]!, 1 + act[2]!, 1];
  assertClose(hooks.get('resid/0')![0]!, resid, 1e-6);
  // Tied head: logits are the embedding rows dotted with the final-normed residual.
  const normed = rmsNorm(Float64Array.from(resid), new Float32Array(4).fill(1), 1e-12);
  assertClose(logits[0]!, [normed.reduce((a, b) => a + b, 0), 0, 0], 1e-6);
});

test('untied head uses lm_head; mismatched weights and ids are refused clearly', () => {
  const config = makeConfig({ tieWordEmbeddings: false });
  const weights = makeWeights(config, {
    'model.embed_tokens.weight': [2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    'lm_head.weight': [1, 0, 0, 0, 0, -1, 0, 0, 3, 0, 0, 0],
  });
  const { logits } = referenceForward(config, weights, [0]);
  assertClose(logits[0]!, [2, 0, 6], 1e-6); // rmsNorm([2,0,0,0]) = [2,0,0,0]
  assert.throws(
    () => referenceForward(config, weights, [7]),
    (e: Error) => isExpgenError(e) && /token 0 has id 7, outside the model's vocabulary/.test(e.message),
  );
  const short = (name: string) => (name === 'model.norm.weight' ? new Float32Array(3) : weights(name));
  assert.throws(
    () => referenceForward(config, short, [0]),
    (e: Error) => isExpgenError(e) && /tensor "model\.norm\.weight" has 3 values/.test(e.message),
  );
});

test('on a tiny checkpoint: every hook per token, causal prefixes, O(1) non-degenerate activations', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'expgen-ref-'));
  try {
    const config = await generateTinyLlama(dir, { vocabSize: 1000, seed: 11 });
    const store = await SafetensorsStore.open(dir);
    const weights = await loadReferenceWeights(store, config);
    await store.close();
    assert.throws(() => weights('nope'), /no tensor named "nope"/);
    const random = new Sfc32(5);
    const tokens = Array.from({ length: 12 }, () => Math.floor(random.nextFloat() * 1000));
    const full = referenceForward(config, weights, tokens);
    assert.deepEqual([...full.hooks.keys()].sort(), ['mlp/0', 'mlp/1', 'resid/0', 'resid/1']);
    for (const [name, perToken] of full.hooks) {
      assert.equal(perToken.length, tokens.length);
      assert.equal(perToken[0]!.length, name.startsWith('mlp') ? 128 : 64);
      assert.ok(
        perToken.every((v) => v.every(Number.isFinite)),
        name,
      );
    }
    assert.equal(full.logits.length, tokens.length);
    assert.equal(full.logits[0]!.length, 1000);

    const mlp = full.hooks.get('mlp/1')!.flatMap((v) => [...v]);
    const positive = mlp.filter((a) => a > 0).length / mlp.length;
    assert.ok(positive > 0.2 && positive < 0.8, `share of positive MLP activations ${positive}`);
    const logits = full.logits.flatMap((v) => [...v]);
    const std = Math.sqrt(logits.reduce((a, b) => a + b * b, 0) / logits.length);
    assert.ok(std > 0.3 && std < 5, `logit std ${std}`);

    // The last residual hook is what the final norm and head read.
    const last = full.hooks.get('resid/1')!;
    const head = weights('lm_head.weight');
    const normed = rmsNorm(Float64Array.from(last[4]!), weights('model.norm.weight'), config.rmsNormEps);
    const logit17 = normed.reduce((a, x, i) => a + x * head[17 * 64 + i]!, 0);
    assert.ok(Math.abs(full.logits[4]![17]! - logit17) < 1e-4);

    // Causality: a prefix gives the same values for its positions.
    const prefix = referenceForward(config, weights, tokens.slice(0, 5));
    for (const [name, perToken] of prefix.hooks) {
      for (let t = 0; t < 5; t++) assert.deepEqual(perToken[t], full.hooks.get(name)![t], `${name} at ${t}`);
    }
    assert.deepEqual(prefix.logits[4], full.logits[4]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
