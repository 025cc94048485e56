import { CallCache } from '@expgen/plugin-kit';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DescribeRequest, Provenance } from '@expgen/contract';
import {
  openLlamaSubjectModel,
  type LlamaGenerationRequest,
  type LlamaGenerationResult,
  type LlamaSubjectModel,
} from '../llama-subject-model.js';
import { tinyBuiltModel, type TinyBuiltModel } from '../onnx/test-models.js';
import { LlamaTokenizer } from '../tokenizer/llama-tokenizer.js';
import {
  DistilledLlamaDescriber,
  type DistilledLlamaSettings,
  type ExplainerEngine,
} from './distilled-llama-describer.js';

const provenance: Provenance = {
  kind: 'describer',
  component: 'distilled-llama',
  plugin: '@expgen/plugin-llama',
  pluginVersion: 'test',
};

function request(seed: number, count = 3): DescribeRequest {
  return {
    feature: { space: 'mlp', layer: 0, index: 7 },
    sign: 'positive',
    exemplars: [],
    threshold: 1,
    messages: [
      { role: 'system', content: 'Describe the neuron.' },
      { role: 'user', content: 'the {{cat}} sat on the mat\na {{cat}} and a dog' },
    ],
    count,
    seed,
  };
}

/** Records every generate call and its result on the way through. */
function spy(
  engine: ExplainerEngine,
): ExplainerEngine & { calls: { request: LlamaGenerationRequest; result: LlamaGenerationResult }[] } {
  const calls: { request: LlamaGenerationRequest; result: LlamaGenerationResult }[] = [];
  return {
    calls,
    info: engine.info,
    provenance: engine.provenance,
    tokenizer: engine.tokenizer,
    async generate(generation) {
      const result = await engine.generate(generation);
      calls.push({ request: generation, result });
      return result;
    },
  };
}

describe('distilled-llama on a tiny random Llama with the Llama-3.1 tokenizer', () => {
  let built: TinyBuiltModel;
  let engine: LlamaSubjectModel;
  let cacheDir: string;
  const settings = (cache: string | null): DistilledLlamaSettings => ({
    temperature: 1,
    topP: 1,
    maxTokens: 8,
    maxRetries: 2,
    batchSize: 16,
    date: '26 Jul 2024',
    callCache: cache === null ? null : new CallCache(cache, 'describer/distilled-llama'),
  });
  before(async () => {
    built = await tinyBuiltModel({
      seed: 21,
      layers: 1,
      hiddenSize: 16,
      intermediateSize: 32,
      numHeads: 2,
      numKvHeads: 1,
      vocabSize: 128256,
      shards: 1,
    });
    engine = await openLlamaSubjectModel(built.modelDir, { provider: 'cpu', provenance });
    cacheDir = await mkdtemp(join(tmpdir(), 'expgen-describer-'));
  });
  after(async () => {
    await engine?.dispose();
    await built?.remove();
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('samples K candidates in one batch from the chat prompt, records answers without the marker as malformed, and retries each with new seeds', async () => {
    const tracked = spy(engine);
    const describer = new DistilledLlamaDescriber(tracked, settings(null), provenance);
    const result = await describer.describe(request(10));
    // The random model never writes the marker: every candidate is a recorded format failure, none lost.
    assert.equal(result.candidates.length, 0);
    assert.deepEqual(
      result.failures.map((f) => [f.seed, f.reason]),
      [
        [10, 'malformed'],
        [11, 'malformed'],
        [12, 'malformed'],
      ],
    );
    assert.match(
      result.failures[1]!.detail,
      /^3 samples \(seeds 11, 14, 17\) gave no description: malformed, malformed, malformed; last: no \[DESCRIPTION\]: line/,
    );
    // One batched call per round: the first samples, then two rounds of retries with seed + i + r * count.
    assert.deepEqual(
      tracked.calls.map((c) => c.request.seeds),
      [
        [10, 11, 12],
        [13, 14, 15],
        [16, 17, 18],
      ],
    );
    const prompt = engine.tokenizer.encodeChat(request(10).messages, {
      addGenerationPrompt: true,
      date: '26 Jul 2024',
    });
    assert.equal(prompt.at(-1), 271, 'the prompt ends with the assistant header and its blank line');
    for (const call of tracked.calls) {
      assert.deepEqual(
        call.request.prompts,
        call.request.prompts.map(() => prompt),
      );
      assert.equal(call.request.maxNewTokens, 8);
      assert.equal(call.request.temperature, 1);
    }
    // One generate pass per round, each prefilling the prompt once for its three rows.
    assert.deepEqual(result.usage, {
      calls: 3,
      promptTokens: 3 * prompt.length,
      completionTokens: tracked.calls.flatMap((c) => c.result.sequences).reduce((n, s) => n + s.tokens.length, 0),
      cachedCalls: 0,
    });
    for (const call of tracked.calls) assert.equal(call.result.usage.prefillTokens, prompt.length);
    assert.equal(describer.stats.generated, 9);
  });

  it('is reproducible by seed: the same seeds give the same answers, other seeds others', async () => {
    const run = async (seed: number) => {
      const tracked = spy(engine);
      await new DistilledLlamaDescriber(tracked, { ...settings(null), maxRetries: 0 }, provenance).describe(
        request(seed),
      );
      return tracked.calls[0]!.result.sequences.map((s) => s.tokens);
    };
    const first = await run(40);
    assert.deepEqual(await run(40), first);
    assert.notDeepEqual(await run(41), first);
    // Candidate i depends on its own seed only: seed 41's first sample is seed 40's second.
    assert.deepEqual((await run(41))[0], first[1]);
  });

  it('answers a rerun from the durable cache without generating anything', async () => {
    const firstEngine = spy(engine);
    const first = await new DistilledLlamaDescriber(firstEngine, settings(cacheDir), provenance).describe(request(70));
    assert.equal(firstEngine.calls.length, 3);
    const rerunEngine = spy(engine);
    const rerun = new DistilledLlamaDescriber(rerunEngine, settings(cacheDir), provenance);
    const second = await rerun.describe(request(70));
    assert.equal(rerunEngine.calls.length, 0, 'no generation on a rerun');
    assert.deepEqual(rerun.stats, { generated: 0, cached: 9 });
    assert.deepEqual(second.failures, first.failures);
    assert.deepEqual(second.usage, { calls: 0, promptTokens: 0, completionTokens: 0, cachedCalls: 9 });
    // Other sampling settings are other answers.
    const hotter = spy(engine);
    await new DistilledLlamaDescriber(
      hotter,
      { ...settings(cacheDir), temperature: 0.5, maxRetries: 0 },
      provenance,
    ).describe(request(70));
    assert.equal(hotter.calls.length, 1);
  });
});

describe('distilled-llama parsing, retries and failures, with scripted answers', () => {
  let tokenizer: LlamaTokenizer;
  before(async () => {
    tokenizer = await LlamaTokenizer.llama31();
  });

  /** An engine that answers seed s with script(s), encoded and ended by <|eot_id|> as the model would. */
  function scripted(script: (seed: number) => string | Error): ExplainerEngine & { seeds: number[] } {
    const seeds: number[] = [];
    return {
      seeds,
      info: {
        architecture: 'scripted',
        layers: 1,
        hiddenSize: 1,
        intermediateSize: 1,
        vocabSize: tokenizer.vocabSize,
        executionProvider: 'host',
        dtype: 'fp32',
        hashes: { weights: 'scripted' },
      },
      provenance,
      tokenizer,
      async generate(generation) {
        seeds.push(...generation.seeds!);
        const answers = generation.seeds!.map(script);
        const error = answers.find((a): a is Error => a instanceof Error);
        if (error) throw error;
        const sequences = answers.map((text) => ({
          tokens: [...tokenizer.encode(text as string), 128009],
          finishReason: 'stop' as const,
        }));
        return {
          sequences,
          generatedBy: provenance,
          usage: {
            prefillTokens: generation.prompts[0]!.length,
            generatedTokens: sequences.reduce((n, q) => n + q.tokens.length, 0),
            passes: 1 + Math.max(...sequences.map((q) => q.tokens.length)),
          },
        };
      },
    };
  }
  const settings: DistilledLlamaSettings = {
    temperature: 1,
    topP: 1,
    maxTokens: 100,
    maxRetries: 3,
    batchSize: 16,
    date: '26 Jul 2024',
    callCache: null,
  };

  it('keeps parsed descriptions with their seeds, retries unparsable answers with new seeds, and reports the rest by reason', async () => {
    const answers: Record<number, string> = {
      0: 'The neuron fires on cats.\n[DESCRIPTION]: the token "cat"',
      1: 'no marker here', // retried: seed 1 + 4 = 5
      5: 'Thinking.\n[DESCRIPTION]: draft\n[DESCRIPTION]: animals, especially cats\ntrailing',
      2: '[DESCRIPTION]: ',
      3: "I'm sorry, I can't help with that.",
    };
    const engine = scripted(
      (seed) => answers[seed] ?? (seed % 4 === 2 ? '[DESCRIPTION]:' : '[DESCRIPTION]: I cannot tell'),
    );
    const result = await new DistilledLlamaDescriber(engine, settings, provenance).describe({ ...request(0, 4) });
    assert.deepEqual(
      result.candidates.map((c) => [
        c.seed,
        c.description,
        c.describedBy.settings?.['samplingSeed'],
        c.describedBy.settings?.['attempt'],
      ]),
      [
        [0, 'the token "cat"', 0, 1],
        [1, 'animals, especially cats', 5, 2],
      ],
    );
    assert.deepEqual(
      result.failures.map((f) => [f.seed, f.reason]),
      [
        [2, 'empty'],
        [3, 'refusal'],
      ],
    );
    assert.match(
      result.failures[0]!.detail,
      /^4 samples \(seeds 2, 6, 10, 14\) gave no description: empty, empty, empty, empty/,
    );
    assert.match(result.failures[1]!.detail, /seeds 3, 7, 11, 15\) gave no description: refusal/);
    assert.deepEqual(engine.seeds, [0, 1, 2, 3, 5, 6, 7, 10, 11, 14, 15]);
    for (const c of result.candidates) {
      assert.equal(c.describedBy.kind, 'describer');
      assert.equal(c.describedBy.settings?.['temperature'], 1);
    }
  });

  it('reports a failed model call as an error for its candidates, without retrying or caching it', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'expgen-describer-'));
    try {
      const failing = scripted(() => new Error('device lost'));
      const result = await new DistilledLlamaDescriber(
        failing,
        { ...settings, callCache: new CallCache(cacheDir, 'describer/distilled-llama') },
        provenance,
      ).describe(request(3, 2));
      assert.deepEqual(
        result.failures.map((f) => [f.seed, f.reason]),
        [
          [3, 'error'],
          [4, 'error'],
        ],
      );
      assert.match(result.failures[0]!.detail, /device lost/);
      assert.deepEqual(failing.seeds, [3, 4]);
      const working = scripted(() => '[DESCRIPTION]: cats');
      const again = await new DistilledLlamaDescriber(
        working,
        { ...settings, callCache: new CallCache(cacheDir, 'describer/distilled-llama') },
        provenance,
      ).describe(request(3, 2));
      assert.deepEqual(
        again.candidates.map((c) => c.description),
        ['cats', 'cats'],
      );
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  });

  it('batches at most batchSize answers per call', async () => {
    const engine = scripted(() => '[DESCRIPTION]: x');
    let calls = 0;
    const counting: ExplainerEngine = { ...engine, generate: (g) => (calls++, engine.generate(g)) };
    const result = await new DistilledLlamaDescriber(counting, { ...settings, batchSize: 4 }, provenance).describe(
      request(0, 10),
    );
    assert.equal(result.candidates.length, 10);
    assert.equal(calls, 3);
  });
});
