import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Provenance } from '@expgen/contract';
import { openLlamaSubjectModel, type LlamaSubjectModel } from '../llama-subject-model.js';
import { idTokenizer, tinyBuiltModel, type TinyBuiltModel } from '../onnx/test-models.js';
import { Sfc32 } from '@expgen/plugin-kit';
import type { LlamaGenerationRequest } from './generate.js';
import { gatherCacheRows } from './kv-rows.js';

const provenance: Provenance = {
  kind: 'describer',
  component: 'distilled-llama',
  plugin: '@expgen/plugin-llama',
  pluginVersion: 'test',
};

function prompt(length: number, seed: number): number[] {
  const random = new Sfc32(seed);
  return Array.from({ length }, () => 1 + Math.floor(random.nextFloat() * 250));
}

/** Shared prefill against a prefill per row, on real ONNX models: same seeds, same tokens. */
for (const dtype of ['fp32', 'fp16'] as const) {
  describe(`shared prefill on a tiny ${dtype} Llama`, () => {
    let built: TinyBuiltModel;
    let model: LlamaSubjectModel;
    before(async () => {
      built = await tinyBuiltModel({ seed: 31, layers: 2, hiddenSize: 32, numHeads: 4, numKvHeads: 2 }, dtype);
      model = await openLlamaSubjectModel(built.modelDir, {
        provider: 'cpu',
        provenance,
        tokenizer: idTokenizer(256, [255]),
      });
    });
    after(async () => {
      await model?.dispose();
      await built?.remove();
    });

    const both = async (request: LlamaGenerationRequest) => ({
      shared: await model.generate(request),
      perRow: await model.generate({ ...request, sharePrefill: false }),
    });

    it('K samples of one prompt: the prompt is prefilled once, and every row samples what a prefill of its own gives', async () => {
      const rows = 10;
      const text = prompt(40, 1);
      const request: LlamaGenerationRequest = {
        prompts: Array.from({ length: rows }, () => text),
        seeds: Array.from({ length: rows }, (_, i) => 500 + i),
        maxNewTokens: 12,
        temperature: 1,
        topP: 0.95,
        stopTokens: [255],
      };
      const { shared, perRow } = await both(request);
      assert.deepEqual(shared.sequences, perRow.sequences);
      assert.equal(new Set(shared.sequences.map((s) => s.tokens.join(','))).size, rows, 'rows differ by seed');
      assert.equal(shared.usage.prefillTokens, 40);
      assert.equal(perRow.usage.prefillTokens, rows * 40);
      const generated = shared.sequences.reduce((n, s) => n + s.tokens.length, 0);
      assert.equal(shared.usage.generatedTokens, generated);
      assert.equal(shared.usage.passes, perRow.usage.passes);
      // Row i depends on its seed alone: the same seed in a batch of one gives its tokens.
      const alone = await model.generate({ ...request, prompts: [text], seeds: [503] });
      assert.deepEqual(alone.sequences[0], shared.sequences[3]);
    });

    it('repeated prompts of different lengths in one batch share per prompt, in any order', async () => {
      const a = prompt(9, 2);
      const b = prompt(23, 3);
      const request: LlamaGenerationRequest = {
        prompts: [a, b, a, a, b, a],
        seeds: [1, 2, 3, 4, 5, 6],
        maxNewTokens: 8,
        temperature: 0.8,
        stopTokens: [],
      };
      const { shared, perRow } = await both(request);
      assert.deepEqual(shared.sequences, perRow.sequences);
      assert.equal(shared.usage.prefillTokens, 9 + 23);
      assert.equal(perRow.usage.prefillTokens, 4 * 9 + 2 * 23);
      // Greedy decoding, one seed for all rows: the rows of one prompt are identical.
      const greedy = await model.generate({ prompts: [a, a, a], maxNewTokens: 6, temperature: 0, stopTokens: [] });
      assert.equal(greedy.usage.prefillTokens, 9);
      assert.deepEqual(greedy.sequences[2], greedy.sequences[0]);
    });
  });
}

describe('gatherCacheRows', () => {
  it('copies whole rows, repeating and reordering them, for any element type', () => {
    const data = Uint16Array.from({ length: 2 * 3 * 2 }, (_, i) => i);
    const out = gatherCacheRows({ type: 'float16', dims: [2, 3, 1, 2], data }, [1, 0, 1]);
    assert.deepEqual(out.dims, [3, 3, 1, 2]);
    assert.ok(out.data instanceof Uint16Array);
    assert.deepEqual([...out.data], [6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert.throws(() => gatherCacheRows({ type: 'float16', dims: [2, 3, 1, 2], data }, [2]), /out of range/);
  });
});
