import assert from 'node:assert/strict';
import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isExpgenError, type Provenance } from '@expgen/contract';
import { generateTinyLlama } from './hf/tiny-model.js';
import { openLlamaSubjectModel, type LlamaSubjectModel } from './llama-subject-model.js';
import { idTokenizer, tinyBuiltModel, type TinyBuiltModel } from './onnx/test-models.js';
import { argmax } from './runtime/token-sampler.js';

const provenance: Provenance = {
  kind: 'subject-model',
  component: 'llama',
  plugin: '@expgen/plugin-llama',
  pluginVersion: 'test',
};
const PROMPTS = [[1, 2, 3], [10, 20, 30, 40, 50, 60], [7]];

const rejectsWith = (promise: Promise<unknown>, pattern: RegExp) =>
  assert.rejects(promise, (error: unknown) => {
    assert.ok(isExpgenError(error), `not an ExpgenError: ${String(error)}`);
    assert.match((error as Error).message, pattern);
    return true;
  });

describe('LlamaSubjectModel generation', () => {
  let built: TinyBuiltModel;
  let subject: LlamaSubjectModel;
  before(async () => {
    built = await tinyBuiltModel({ seed: 8, layers: 2, shards: 2 });
    subject = await openLlamaSubjectModel(built.modelDir, {
      provider: 'cpu',
      provenance,
      tokenizer: idTokenizer(256, [255]),
    });
  });
  after(async () => {
    await subject?.dispose();
    await built?.remove();
  });

  /** Greedy decoding by re-running the whole sequence through forward() at every step: no KV cache. */
  async function recompute(prompt: number[], steps: number): Promise<number[]> {
    const sequence = [...prompt];
    for (let step = 0; step < steps; step++) {
      const { logits } = await subject.forward({
        tokens: Int32Array.from(sequence),
        batch: 1,
        seqLen: sequence.length,
        hooks: [],
        logits: 'last',
      });
      sequence.push(argmax(logits!));
    }
    return sequence.slice(prompt.length);
  }

  it('greedy decoding with the KV cache gives the tokens of a full recompute, for left-padded prompts of different lengths', async () => {
    const result = await subject.generate({ prompts: PROMPTS, maxNewTokens: 8, temperature: 0, stopTokens: [] });
    assert.equal(result.sequences.length, 3);
    for (const [row, prompt] of PROMPTS.entries()) {
      assert.deepEqual(result.sequences[row]!.tokens, await recompute(prompt, 8), `row ${row}`);
      assert.equal(result.sequences[row]!.finishReason, 'length');
    }
    // Each row alone gives the same tokens as in the padded batch.
    const alone = await subject.generate({ prompts: [PROMPTS[2]!], maxNewTokens: 8, stopTokens: [] });
    assert.deepEqual(alone.sequences[0]!.tokens, result.sequences[2]!.tokens);
  });

  it('sampling is reproducible by seed and changes with it', async () => {
    const request = { prompts: PROMPTS, maxNewTokens: 12, temperature: 1, topP: 0.9, stopTokens: [] };
    const first = await subject.generate({ ...request, seed: 7 });
    const again = await subject.generate({ ...request, seed: 7 });
    const other = await subject.generate({ ...request, seed: 8 });
    assert.deepEqual(again.sequences, first.sequences);
    assert.notDeepEqual(
      other.sequences.map((s) => s.tokens),
      first.sequences.map((s) => s.tokens),
    );
    assert.deepEqual(first.generatedBy.settings?.['seed'], 7);
    assert.deepEqual(first.generatedBy.settings?.['topP'], 0.9);
    const full = await subject.generate({ ...request, topP: 1, seed: 7 });
    assert.ok(full.sequences.every((s) => s.tokens.length === 12 && s.tokens.every((t) => t >= 0 && t < 256)));
  });

  it('samples each row from its own seed when given one per row, as if the row ran alone', async () => {
    const request = { maxNewTokens: 10, temperature: 1, topP: 0.9, stopTokens: [] };
    const prompts = [PROMPTS[0]!, PROMPTS[0]!, PROMPTS[1]!];
    const seeds = [5, 6, 5];
    const batched = await subject.generate({ ...request, prompts, seeds });
    for (const [row, prompt] of prompts.entries()) {
      const alone = await subject.generate({ ...request, prompts: [prompt], seeds: [seeds[row]!] });
      assert.deepEqual(batched.sequences[row]!.tokens, alone.sequences[0]!.tokens, `row ${row}`);
    }
    assert.notDeepEqual(
      batched.sequences[0]!.tokens,
      batched.sequences[1]!.tokens,
      'one prompt, two seeds, two samples',
    );
    assert.deepEqual(batched.generatedBy.settings?.['seeds'], seeds);
    await rejectsWith(subject.generate({ ...request, prompts, seeds: [1, 2] }), /2 seeds given for 3 prompts/);
  });

  it('stops a sequence after a stop token and lets the others run', async () => {
    const greedy = await subject.generate({ prompts: PROMPTS, maxNewTokens: 6, stopTokens: [] });
    const stop = greedy.sequences[0]!.tokens[2]!;
    const stopped = await subject.generate({ prompts: PROMPTS, maxNewTokens: 6, stopTokens: [stop] });
    const first = stopped.sequences[0]!;
    assert.equal(first.finishReason, 'stop');
    assert.equal(first.tokens.at(-1), stop);
    assert.deepEqual(first.tokens, greedy.sequences[0]!.tokens.slice(0, first.tokens.length));
    for (const row of [1, 2]) {
      const tokens = greedy.sequences[row]!.tokens;
      const cut = tokens.indexOf(stop);
      assert.deepEqual(stopped.sequences[row]!.tokens, cut === -1 ? tokens : tokens.slice(0, cut + 1));
    }
    const none = await subject.generate({ prompts: PROMPTS, maxNewTokens: 0 });
    assert.deepEqual(
      none.sequences.map((s) => s.tokens),
      [[], [], []],
    );
  });

  it('reports what it runs on and where the model came from', () => {
    assert.equal(subject.info.executionProvider, 'cpu');
    assert.equal(subject.info.dtype, 'fp32');
    assert.equal(subject.info.layers, 2);
    assert.equal(subject.info.vocabSize, 256);
    assert.match(subject.info.hashes['weights']!, /^[0-9a-f]{64}$/);
    assert.equal(subject.provenance.settings?.['executionProvider'], 'cpu');
    assert.equal(subject.runsGraphFragments, true);
  });

  it('refuses bad generation requests', async () => {
    await rejectsWith(subject.generate({ prompts: [[]], maxNewTokens: 2 }), /prompt 0 is empty/);
    await rejectsWith(subject.generate({ prompts: [[1, 999]], maxNewTokens: 2 }), /token id 999/);
    await rejectsWith(subject.generate({ prompts: [[1]], maxNewTokens: 2, topP: 0 }), /topP/);
  });
});

describe('openLlamaSubjectModel refuses what it cannot run', () => {
  let built: TinyBuiltModel;
  before(async () => {
    built = await tinyBuiltModel({ seed: 9, layers: 1, shards: 1 });
  });
  after(async () => {
    await built?.remove();
  });

  it('a tokenizer whose vocabulary differs from the model', async () => {
    await rejectsWith(
      openLlamaSubjectModel(built.modelDir, { provider: 'cpu', provenance, tokenizer: idTokenizer(300) }),
      /vocab_size is 256 but the tokenizer has 300 ids/,
    );
  });

  it('a tokenizer larger than the model even when an extended vocabulary is allowed, which accepts a smaller one', async () => {
    await rejectsWith(
      openLlamaSubjectModel(built.modelDir, {
        provider: 'cpu',
        provenance,
        tokenizer: idTokenizer(300),
        allowExtendedVocabulary: true,
      }),
      /vocab_size is 256, fewer than the tokenizer's 300 ids/,
    );
    const extended = await openLlamaSubjectModel(built.modelDir, {
      provider: 'cpu',
      provenance,
      tokenizer: idTokenizer(250),
      allowExtendedVocabulary: true,
    });
    try {
      assert.equal(extended.info.vocabSize, 256);
      assert.equal(extended.tokenizer.vocabSize, 250);
      // Ids past the tokenizer's, up to the model's, are the extension's and may be fed.
      const { logits } = await extended.forward({
        tokens: Int32Array.of(1, 255),
        batch: 1,
        seqLen: 2,
        hooks: [],
        logits: 'last',
      });
      assert.equal(logits!.length, 256);
    } finally {
      await extended.dispose();
    }
  });

  it('a model folder without a tokenizer, unless one is passed', async () => {
    await rejectsWith(openLlamaSubjectModel(built.modelDir, { provider: 'cpu', provenance }), /tokenizer/);
  });

  it('a folder that is not a built model', async () => {
    await rejectsWith(
      openLlamaSubjectModel(join(built.modelDir, 'nowhere'), {
        provider: 'cpu',
        provenance,
        tokenizer: idTokenizer(256),
      }),
      /nowhere does not exist/,
    );
    const empty = join(built.modelDir, '..', 'empty');
    await mkdir(empty, { recursive: true });
    await rejectsWith(
      openLlamaSubjectModel(empty, { provider: 'cpu', provenance, tokenizer: idTokenizer(256) }),
      /expgen-model\.json is missing, so .* is not a built expgen model/,
    );
    await rejectsWith(
      openLlamaSubjectModel(built.hfDir, { provider: 'cpu', provenance, tokenizer: idTokenizer(256) }),
      /Hugging Face checkpoint: build it first/,
    );
  });

  it('a truncated weight file', async () => {
    const copy = join(built.modelDir, '..', 'truncated');
    await mkdir(copy, { recursive: true });
    for (const file of ['model.onnx', 'expgen-model.json', 'config.json'])
      await writeFile(join(copy, file), await (await import('node:fs/promises')).readFile(join(built.modelDir, file)));
    const data = await open(join(copy, 'model.onnx.data'), 'w');
    await data.write(new Uint8Array(1000));
    await data.close();
    await rejectsWith(
      openLlamaSubjectModel(copy, { provider: 'cpu', provenance, tokenizer: idTokenizer(256) }),
      /model\.onnx\.data is 1000 bytes but expgen-model\.json says \d+/,
    );
    await rm(copy, { recursive: true, force: true });
  });

  it('the CUDA provider when onnxruntime-node was installed without it, naming the install option', async (t) => {
    const outcome = await openLlamaSubjectModel(built.modelDir, {
      provider: 'cuda',
      provenance,
      tokenizer: idTokenizer(256),
    }).then(
      async (subject) => {
        await subject.dispose();
        return null;
      },
      (error: unknown) => error,
    );
    if (outcome === null || !/is not installed/.test(String((outcome as Error).message))) {
      t.skip('the CUDA provider is installed here');
      return;
    }
    assert.ok(isExpgenError(outcome));
    assert.match(
      (outcome as Error).message,
      /"cuda" is not installed: .*libonnxruntime_providers_cuda\.so is missing.*ONNXRUNTIME_NODE_INSTALL=cuda12/,
    );
  });
});

describe('a tiny model with the Llama 3 vocabulary and tokenizer', () => {
  it('opens with the tokenizer from its folder and stops at its end-of-turn ids by default', async () => {
    const root = join(process.env.TMPDIR ?? '/tmp', `expgen-llama-vocab-${process.pid}`);
    await generateTinyLlama(join(root, 'hf'), {
      seed: 10,
      layers: 1,
      hiddenSize: 32,
      intermediateSize: 64,
      numHeads: 2,
      numKvHeads: 1,
      shards: 1,
    });
    const { buildOnnxModel } = await import('./onnx/build-model.js');
    await buildOnnxModel(join(root, 'hf'), join(root, 'onnx'), { dtype: 'fp32' });
    const subject = await openLlamaSubjectModel(join(root, 'onnx'), { provider: 'cpu', provenance });
    try {
      assert.equal(subject.tokenizer.vocabSize, 128256);
      assert.match(subject.info.hashes['tokenizer']!, /^[0-9a-f]{64}$/);
      const prompt = subject.tokenizer.encodeChat([{ role: 'user', content: 'Hello!' }], {
        addGenerationPrompt: true,
        date: '26 Jul 2024',
      });
      const result = await subject.generate({
        prompts: [prompt],
        maxNewTokens: 4,
        temperature: 1,
        seed: 1,
        stopTokens: [...subject.tokenizer.eosIds],
      });
      const tokens = result.sequences[0]!.tokens;
      assert.ok(tokens.length >= 1 && tokens.length <= 4);
      if (result.sequences[0]!.finishReason === 'stop') assert.ok(subject.tokenizer.eosIds.includes(tokens.at(-1)!));
    } finally {
      await subject.dispose();
      await rm(root, { recursive: true, force: true });
    }
  });
});
