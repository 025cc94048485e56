import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTinyLlama, llamaTensorNames } from './tiny-model.js';
import { readLlamaConfig } from './hf-config.js';
import { SafetensorsStore } from '@expgen/plugin-kit';
import { LlamaTokenizer, checkVocabularyMatches } from '../tokenizer/llama-tokenizer.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'expgen-tiny-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('default tiny model: Llama-3.1 layout, BF16 in two shards, HF tensor names and shapes, tokenizer files', async () => {
  await withDir(async (dir) => {
    const config = await generateTinyLlama(dir);
    assert.deepEqual((await readdir(dir)).sort(), [
      'config.json',
      'generation_config.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    assert.deepEqual(await readLlamaConfig(dir), config);
    assert.equal(config.vocabSize, 128256);
    assert.equal(config.numLayers, 2);
    assert.equal(config.hiddenSize, 64);
    assert.equal(config.intermediateSize, 128);
    assert.equal(config.numHeads, 4);
    assert.equal(config.numKvHeads, 2);
    assert.equal(config.headDim, 16);
    assert.equal(config.ropeTheta, 500000);
    assert.deepEqual(config.ropeScaling, {
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    assert.equal(config.bosTokenId, 128000);
    assert.deepEqual(config.eosTokenIds, [128001, 128008, 128009]);
    const raw = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    assert.deepEqual(raw.architectures, ['LlamaForCausalLM']);
    assert.equal(raw.rope_scaling.rope_type, 'llama3');

    const store = await SafetensorsStore.open(dir);
    try {
      assert.deepEqual(store.names().sort(), llamaTensorNames(config).sort());
      assert.ok(store.has('lm_head.weight'));
      assert.deepEqual(store.info('model.embed_tokens.weight').shape, [128256, 64]);
      assert.deepEqual(store.info('model.layers.1.self_attn.q_proj.weight').shape, [64, 64]);
      assert.deepEqual(store.info('model.layers.1.self_attn.k_proj.weight').shape, [32, 64]);
      assert.deepEqual(store.info('model.layers.0.self_attn.o_proj.weight').shape, [64, 64]);
      assert.deepEqual(store.info('model.layers.0.mlp.gate_proj.weight').shape, [128, 64]);
      assert.deepEqual(store.info('model.layers.0.mlp.down_proj.weight').shape, [64, 128]);
      assert.deepEqual(store.info('model.norm.weight').shape, [64]);
      assert.ok(store.names().every((n) => store.info(n).dtype === 'BF16'));
      assert.notEqual(store.info('model.embed_tokens.weight').file, store.info('lm_head.weight').file);

      // Scales that keep activations O(1): norms near 1, embeddings unit variance, linear 1/sqrt(fan_in).
      const stats = async (name: string) => {
        const w = await store.readFloat32(name);
        const mean = w.reduce((a, b) => a + b, 0) / w.length;
        const std = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length);
        return { mean, std };
      };
      const norm = await stats('model.layers.0.input_layernorm.weight');
      assert.ok(Math.abs(norm.mean - 1) < 0.05 && norm.std > 0.05 && norm.std < 0.15, JSON.stringify(norm));
      const gate = await stats('model.layers.0.mlp.gate_proj.weight');
      assert.ok(Math.abs(gate.std - 1 / 8) < 0.01, JSON.stringify(gate));
      const down = await stats('model.layers.0.mlp.down_proj.weight');
      assert.ok(Math.abs(down.std - 1 / Math.sqrt(128)) < 0.01, JSON.stringify(down));
    } finally {
      await store.close();
    }

    const tokenizer = await LlamaTokenizer.fromDirectory(dir);
    checkVocabularyMatches(tokenizer, config.vocabSize, dir);
    assert.equal(tokenizer.fingerprint, (await LlamaTokenizer.llama31()).fingerprint);
    assert.deepEqual(tokenizer.eosIds, [128001, 128008, 128009]);
  });
});

test('same seed, same bytes; another seed, other weights', async () => {
  await withDir(async (dir) => {
    const options = { vocabSize: 512, layers: 1 } as const;
    await generateTinyLlama(join(dir, 'a'), { ...options, seed: 3 });
    await generateTinyLlama(join(dir, 'b'), { ...options, seed: 3 });
    await generateTinyLlama(join(dir, 'c'), { ...options, seed: 4 });
    const files = (await readdir(join(dir, 'a'))).sort();
    assert.deepEqual(files, (await readdir(join(dir, 'b'))).sort());
    for (const file of files)
      assert.ok((await readFile(join(dir, 'a', file))).equals(await readFile(join(dir, 'b', file))), file);
    const shard = 'model-00001-of-00002.safetensors';
    assert.ok(!(await readFile(join(dir, 'a', shard))).equals(await readFile(join(dir, 'c', shard))));
    // A vocabulary other than Llama 3's gets no tokenizer files, since none would match it.
    assert.ok(!files.includes('tokenizer.json'));
  });
});

test('options: single file, F32, tied embeddings, other head layout', async () => {
  await withDir(async (dir) => {
    const config = await generateTinyLlama(dir, {
      vocabSize: 300,
      shards: 1,
      dtype: 'F32',
      tieWordEmbeddings: true,
      layers: 3,
      hiddenSize: 48,
      numHeads: 6,
      numKvHeads: 3,
      intermediateSize: 40,
    });
    assert.deepEqual((await readdir(dir)).sort(), ['config.json', 'generation_config.json', 'model.safetensors']);
    assert.equal(config.tieWordEmbeddings, true);
    assert.equal(config.headDim, 8);
    assert.equal(config.bosTokenId, null);
    const store = await SafetensorsStore.open(dir);
    assert.equal(store.has('lm_head.weight'), false);
    assert.equal(store.info('model.layers.2.mlp.up_proj.weight').dtype, 'F32');
    assert.deepEqual(store.info('model.layers.2.self_attn.v_proj.weight').shape, [24, 48]);
    await store.close();
    await assert.rejects(
      generateTinyLlama(join(dir, 'x'), { hiddenSize: 64, numHeads: 3 }),
      /heads must divide hiddenSize/,
    );
  });
});
