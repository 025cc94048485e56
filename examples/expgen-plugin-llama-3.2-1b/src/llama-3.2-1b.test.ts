import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { memoryLogger } from '@expgen/contract/testing';
import type { ComponentContext, SubjectModel } from '@expgen/contract';
import {
  buildOnnxModel,
  generateTinyLlama,
  LlamaTokenizer,
  readLlamaConfig,
  type LlamaConfig,
} from '@expgen/plugin-llama';
import plugin from './index.js';
import {
  checkLlama321bShape,
  checkLlama3Vocabulary,
  LLAMA_32_1B,
  llama321bMismatches,
  llama3VocabularyFingerprint,
} from './llama-3.2-1b.js';
import { TWIN_SHAPE } from './twin.js';

const component = plugin.components.find((c) => c.kind === 'subject-model' && c.name === 'llama-3.2-1b')!;
const dir = await mkdtemp(join(tmpdir(), 'expgen-llama-1b-'));
after(() => rm(dir, { recursive: true, force: true }));

function context(): ComponentContext {
  return {
    provenance: {
      kind: 'subject-model',
      component: component.name,
      plugin: plugin.meta.name,
      pluginVersion: plugin.meta.version,
    },
    baseDir: dir,
    cacheDir: join(dir, 'cache'),
    logger: memoryLogger(),
  };
}

const create = (options: unknown): Promise<SubjectModel> =>
  component.create(component.options.parse(options, ['subject', 'options']), context()) as Promise<SubjectModel>;
const build = (source: string, out: string) =>
  component.build!(
    source,
    out,
    { dtype: 'fp32' },
    { baseDir: dir, cacheDir: join(dir, 'cache'), logger: memoryLogger() },
  );

/** Llama-3.2-1B-Instruct's config as parsed from its config.json. */
const LLAMA_32_1B_CONFIG: LlamaConfig = {
  architecture: 'LlamaForCausalLM',
  vocabSize: 128256,
  hiddenSize: 2048,
  intermediateSize: 8192,
  numLayers: 16,
  numHeads: 32,
  numKvHeads: 8,
  headDim: 64,
  rmsNormEps: 1e-5,
  ropeTheta: 500000,
  ropeScaling: { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
  tieWordEmbeddings: true,
  maxPositionEmbeddings: 131072,
  bosTokenId: 128000,
  eosTokenIds: [128001, 128008, 128009],
};

/** Rewrites a checkpoint's config.json with the 1B's sizes; the check reads config.json before any weights. */
async function claimLlama32Sizes(hf: string): Promise<void> {
  const file = join(hf, 'config.json');
  const config = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  Object.assign(config, {
    num_hidden_layers: 16,
    hidden_size: 2048,
    intermediate_size: 8192,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 64,
    tie_word_embeddings: true,
  });
  config['rope_scaling'] = { ...(config['rope_scaling'] as object), factor: 32 };
  await writeFile(file, JSON.stringify(config));
}

describe('the Llama-3.2-1B shape', () => {
  it('accepts the real config and names every difference of another one', () => {
    assert.deepEqual(llama321bMismatches(LLAMA_32_1B_CONFIG, { twin: false }), []);
    const llama31_8b = {
      ...LLAMA_32_1B_CONFIG,
      numLayers: 32,
      hiddenSize: 4096,
      intermediateSize: 14336,
      headDim: 128,
      tieWordEmbeddings: false,
      ropeScaling: { ...LLAMA_32_1B_CONFIG.ropeScaling!, factor: 8 },
    };
    assert.deepEqual(llama321bMismatches(llama31_8b, { twin: false }), [
      'num_hidden_layers 32 (expected 16)',
      'hidden_size 4096 (expected 2048)',
      'intermediate_size 14336 (expected 8192)',
      'head_dim 128 (expected 64)',
      'tie_word_embeddings false (expected true)',
      'rope_scaling.factor 8 (expected 32)',
    ]);
    assert.deepEqual(llama321bMismatches({ ...LLAMA_32_1B_CONFIG, ropeScaling: null }, { twin: false }), [
      'rope_scaling.factor null (expected 32)',
    ]);
  });

  it('holds a twin to the architecture features, not the sizes', () => {
    const twin = {
      ...LLAMA_32_1B_CONFIG,
      numLayers: 2,
      hiddenSize: 64,
      intermediateSize: 256,
      numHeads: 8,
      numKvHeads: 2,
      headDim: 8,
    };
    assert.deepEqual(llama321bMismatches(twin, { twin: true }), []);
    assert.throws(
      () => checkLlama321bShape(twin, 'model', { twin: false }),
      /^ExpgenError: model: not meta-llama\/Llama-3\.2-1B-Instruct: num_hidden_layers 2 \(expected 16\),/,
    );
    assert.deepEqual(llama321bMismatches({ ...twin, numKvHeads: 4, tieWordEmbeddings: false }, { twin: true }), [
      'num_attention_heads / num_key_value_heads 2 (expected 4)',
      'tie_word_embeddings false (expected true)',
    ]);
  });

  it('is one line that says how to build the right model', () => {
    assert.throws(
      () => checkLlama321bShape({ ...LLAMA_32_1B_CONFIG, vocabSize: 32000 }, '/models/x', { twin: false }),
      (error: Error) => {
        assert.ok(!error.message.includes('\n'));
        assert.match(
          error.message,
          /^\/models\/x: not meta-llama\/Llama-3\.2-1B-Instruct: vocab_size 32000 \(expected 128256\); build .* "expgen model build <hf-dir> --out <dir> --set subject\.component=llama-3\.2-1b"/,
        );
        return true;
      },
    );
  });
});

describe('the Llama-3.1/3.2 vocabulary', () => {
  it('is the fingerprint of the Llama-3.1 tokenizer', async () => {
    const llama31 = await LlamaTokenizer.llama31();
    assert.equal(await llama3VocabularyFingerprint(), llama31.fingerprint);
    await checkLlama3Vocabulary(llama31, 'x');
  });

  it('refuses another vocabulary of the same size', async () => {
    await assert.rejects(
      checkLlama3Vocabulary({ vocabSize: LLAMA_32_1B.vocabSize, fingerprint: 'f'.repeat(64) }, '/models/x'),
      /^ExpgenError: \/models\/x: the tokenizer is not Llama-3\.1\/3\.2's vocabulary \(128256 ids, fingerprint ffffffffffff; expected 128256 ids, fingerprint [0-9a-f]{12}\); simulators and reports read the subject's token ids/,
    );
  });
});

describe('the llama-3.2-1b component', () => {
  let demoTiny: string;
  before(async () => {
    // The core demo's default tiny Llama (configs/demo.yaml): 2 layers, hidden 64, untied, rope factor 8.
    await generateTinyLlama(join(dir, 'demo-hf'), {
      seed: 0,
      layers: 2,
      hiddenSize: 64,
      intermediateSize: 128,
      numHeads: 4,
      numKvHeads: 2,
    });
    await buildOnnxModel(join(dir, 'demo-hf'), join(dir, 'demo-onnx'), { dtype: 'fp32' });
    demoTiny = join(dir, 'demo-onnx');
  });

  it('defaults to the twin: tiny, tied, rope factor 32, 4:1 grouped-query attention, the real tokenizer', async () => {
    const subject = await create(undefined);
    try {
      assert.deepEqual(subject.provenance.settings?.['twin'], { seed: 0 });
      assert.equal(subject.info.layers, TWIN_SHAPE.layers);
      assert.equal(subject.info.vocabSize, LLAMA_32_1B.vocabSize);
      const widths = Object.fromEntries(subject.hookPoints().map((h) => [h.name, h.width]));
      assert.equal(widths['mlp/0'], TWIN_SHAPE.intermediateSize);
      assert.equal(widths['resid/1'], TWIN_SHAPE.hiddenSize);
      assert.equal(subject.tokenizer.fingerprint, await llama3VocabularyFingerprint());
      const folder = (subject as SubjectModel & { modelDir: string }).modelDir;
      const config = await readLlamaConfig(folder);
      assert.equal(config.tieWordEmbeddings, true);
      assert.equal(config.ropeScaling?.factor, 32);
      assert.equal(config.numHeads / config.numKvHeads, 4);
    } finally {
      await subject.dispose?.();
    }
  });

  it("refuses a built model of another shape (the demo's tiny Llama) in one line", async () => {
    await assert.rejects(create({ model: 'demo-onnx' }), (error: Error) => {
      assert.ok(!error.message.includes('\n'));
      assert.ok(
        error.message.startsWith(
          `subject.options.model: ${demoTiny}: not meta-llama/Llama-3.2-1B-Instruct: num_hidden_layers 2 (expected 16), hidden_size 64 (expected 2048), `,
        ),
        error.message,
      );
      assert.match(
        error.message,
        /tie_word_embeddings false \(expected true\), rope_scaling\.factor 8 \(expected 32\);/,
      );
      return true;
    });
  });

  it('says what to do with a missing folder or an unbuilt checkpoint', async () => {
    await assert.rejects(
      create({ model: 'nowhere' }),
      /^ExpgenError: subject\.options\.model: folder .*nowhere does not exist; build meta-llama\/Llama-3\.2-1B-Instruct into it with "expgen model build/,
    );
    await assert.rejects(
      create({ model: 'demo-hf' }),
      /is a Hugging Face checkpoint, not a runnable model; build it with "expgen model build .*--set subject\.component=llama-3\.2-1b"/,
    );
  });

  it('build refuses a checkpoint of another model before converting anything', async () => {
    await assert.rejects(
      build(join(dir, 'demo-hf'), join(dir, 'refused')),
      /demo-hf: not meta-llama\/Llama-3\.2-1B-Instruct: num_hidden_layers 2 \(expected 16\)/,
    );
  });

  it("build refuses a 1B-shaped checkpoint whose vocabulary is not Llama-3's", async () => {
    const hf = join(dir, 'other-vocab-hf');
    await generateTinyLlama(hf, { seed: 0, layers: 1, shards: 1 });
    await claimLlama32Sizes(hf);
    const tokenizerFile = join(hf, 'tokenizer.json');
    const tokenizer = JSON.parse(await readFile(tokenizerFile, 'utf8')) as { model: { vocab: Record<string, number> } };
    const vocab = tokenizer.model.vocab;
    [vocab['a'], vocab['b']] = [vocab['b']!, vocab['a']!];
    await writeFile(tokenizerFile, JSON.stringify(tokenizer));
    await assert.rejects(
      build(hf, join(dir, 'refused')),
      /other-vocab-hf: the tokenizer is not Llama-3\.1\/3\.2's vocabulary \(128256 ids, fingerprint [0-9a-f]{12}; expected 128256 ids/,
    );
  });
});
