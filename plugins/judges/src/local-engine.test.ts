import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JudgeScorer, SubjectModel } from '@expgen/contract';
import { tinyBuiltModel, type TinyBuiltModel } from '@expgen/plugin-llama/testing';
import plugin from './index.js';
import { catRequest, catTokenizer, testContext } from './judges.test-util.js';

// The local engine: a tiny random Llama (the real Llama-3.1 tokenizer and chat template) as the judge. It answers
// nonsense, so every prompt ends as a counted failure after its retries: the path runs end to end, honestly.

describe('a judge on the local Llama engine', () => {
  let built: TinyBuiltModel;
  before(async () => {
    built = await tinyBuiltModel({
      seed: 7,
      layers: 1,
      hiddenSize: 16,
      intermediateSize: 32,
      numHeads: 2,
      numKvHeads: 1,
      vocabSize: 128256,
      shards: 1,
    });
  });
  after(async () => {
    await built?.remove();
  });

  const create = async (context = testContext('fuzzing')) => {
    const declaration = plugin.components.find((c) => c.name === 'fuzzing')!;
    const options = declaration.options.parse({
      judge: { engine: 'local', maxTokens: 6, local: { model: built.modelDir, batchSize: 16 } },
      activating: 4,
      mismarked: 4,
      batchSize: 3,
      maxRetries: 1,
    });
    const subject = { tokenizer: catTokenizer() } as SubjectModel;
    return (await declaration.create(options, { ...context, subject })) as JudgeScorer & { dispose(): Promise<void> };
  };

  it('generates an answer per prompt through the chat template, counts what it ran, and invents nothing', async () => {
    const context = testContext('fuzzing');
    const judge = await create(context);
    try {
      const result = await judge.judge(catRequest());
      assert.equal(result.judgments.length, 8);
      const prompts = Math.ceil(8 / 3);
      const failed = result.judgments.filter((j) => j.answer === null).length;
      assert.ok(failed === 8, `the tiny random model writes no [ANSWER] list: ${failed} of 8 failed`);
      assert.equal(result.failures.length, prompts);
      assert.match(result.failures[0]!, /prompt \d: no readable answer in 2 requests/);
      assert.equal(result.usage?.calls, prompts * 2, 'every prompt generated twice (one retry)');
      assert.ok((result.usage?.promptTokens ?? 0) > prompts * 2 * 100, 'the chat prompt, prefilled per row');
      assert.ok((result.usage?.completionTokens ?? 0) <= prompts * 2 * 6, 'at most maxTokens per answer');
      assert.equal(result.judgedBy.settings?.['engine'], 'local');
      assert.equal(judge.valueOfJudgments(result.judgments.filter((j) => j.answer !== null)), null);

      const rerun = await create(context);
      try {
        const again = await rerun.judge(catRequest());
        assert.deepEqual(again.failures, result.failures, 'the cached answers give the same failures');
        assert.equal(again.usage?.calls, 0, 'nothing generated again');
        assert.equal(again.usage?.cachedCalls, prompts * 2);
      } finally {
        await rerun.dispose();
      }
    } finally {
      await judge.dispose();
    }
  });

  it('refuses a missing model folder, naming the option', async () => {
    const declaration = plugin.components.find((c) => c.name === 'detection')!;
    const options = declaration.options.parse({ judge: { engine: 'local', local: { model: 'no/such/folder' } } });
    await assert.rejects(
      declaration.create(options, { ...testContext(), subject: { tokenizer: catTokenizer() } as SubjectModel }),
      /options\.judge\.local\.model: folder .*no\/such\/folder does not exist/,
    );
  });
});
