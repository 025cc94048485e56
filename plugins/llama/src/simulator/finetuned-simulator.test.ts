import { CallCache } from '@expgen/plugin-kit';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isExpgenError, type ComponentContext, type ForwardRequest, type Provenance } from '@expgen/contract';
import { memoryLogger, fakeSubjectModel } from '@expgen/contract/testing';
import llama from '../index.js';
import { openLlamaSubjectModel, type LlamaSubjectModel } from '../llama-subject-model.js';
import { llama31TokenizerFiles } from '../tokenizer/llama31-tokenizer-files.js';
import { LlamaTokenizer } from '../tokenizer/llama-tokenizer.js';
import {
  checkSharedVocabulary,
  FinetunedSimulator,
  RELEASED_SIMULATOR,
  type FinetunedSimulatorSettings,
  type SimulatorEngine,
} from './finetuned-simulator.js';
import { tinySimulatorFolder } from './tiny-simulator-model.js';

const provenance: Provenance = {
  kind: 'simulator',
  component: 'finetuned',
  plugin: '@expgen/plugin-llama',
  pluginVersion: 'test',
};
const TINY = { seed: 31, layers: 1, hiddenSize: 16, intermediateSize: 32, numHeads: 2, numKvHeads: 1 };
const BINS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

/** Records every forward request on the way through. */
function spy(engine: SimulatorEngine): SimulatorEngine & { requests: ForwardRequest[] } {
  const requests: ForwardRequest[] = [];
  return {
    requests,
    info: engine.info,
    provenance: engine.provenance,
    tokenizer: engine.tokenizer,
    forward: (request) => {
      requests.push(request);
      return engine.forward(request);
    },
  };
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++)
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tolerance, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

describe('finetuned simulator on a tiny random model with the extended vocabulary', () => {
  let cacheDir: string;
  let engine: LlamaSubjectModel;
  let sentence: number[];
  const settings = (overrides: Partial<FinetunedSimulatorSettings> = {}): FinetunedSimulatorSettings => ({
    remap: RELEASED_SIMULATOR.remap,
    padId: RELEASED_SIMULATOR.padId,
    binIds: BINS,
    batchSize: 16,
    callCache: null,
    ...overrides,
  });
  before(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'expgen-simulator-'));
    const dir = await tinySimulatorFolder(TINY, 128261, { cacheDir, logger: memoryLogger() });
    engine = await openLlamaSubjectModel(dir, {
      provider: 'cpu',
      provenance,
      tokenizer: await LlamaTokenizer.llama31(),
      allowExtendedVocabulary: true,
    });
    sentence = engine.tokenizer.encode(' the cat sat on the mat');
  });
  after(async () => {
    await engine?.dispose();
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('opens the 128,261-id model with the 128,256-id Llama-3.1 tokenizer', () => {
    assert.equal(engine.info.vocabSize, 128261);
    assert.equal(engine.tokenizer.vocabSize, 128256);
  });

  it('predicts the expected bin under the softmax of the bin logits at each exemplar token, as a direct computation with full logits does', async () => {
    // A chat-formatted exemplar: its control tokens must reach the model as the remapped ids.
    const exemplar = [128000, 128006, 882, 128007, 271, ...sentence, 128009];
    const remapped = [128257, 128258, 882, 128259, 271, ...sentence, 128260];
    const descriptions = ['cats', 'the word "cat" and other small animals in a sentence'];
    const simulator = new FinetunedSimulator(engine, settings(), provenance);
    const result = await simulator.simulate({ descriptions, sequences: [exemplar] });
    assert.equal(result.mode, 'expected-bin');
    for (const [d, description] of descriptions.entries()) {
      // BOS is remapped too: the reference replaces every occurrence in its whole input.
      const prefix = [128257, ...engine.tokenizer.encode(`## Neuron Description: ${description}\n\n ## Input: `)];
      assert.deepEqual(simulator.prefixIds(description), prefix);
      const input = [...prefix, ...remapped];
      const { logits } = await engine.forward({
        tokens: Int32Array.from(input),
        batch: 1,
        seqLen: input.length,
        hooks: [],
        logits: 'all',
      });
      const vocab = 128261;
      const expected = exemplar.map((_, t) => {
        const at = (prefix.length + t) * vocab;
        const bins = BINS.map((id) => logits![at + id]!);
        const max = Math.max(...bins);
        const weights = bins.map((l) => Math.exp(l - max));
        const total = weights.reduce((a, b) => a + b, 0);
        return weights.reduce((sum, w, k) => sum + k * w, 0) / total;
      });
      assertClose(result.predictions[d]![0]!, expected, 1e-5, `description ${d}`);
      for (const value of result.predictions[d]![0]!) assert.ok(value >= 0 && value <= 10);
    }
    // Without the remap the model reads other ids, so the predictions from the first control token on differ.
    const unmapped = await new FinetunedSimulator(engine, settings({ remap: new Map() }), provenance).simulate({
      descriptions: ['cats'],
      sequences: [exemplar],
    });
    assert.notDeepEqual(Array.from(unmapped.predictions[0]![0]!), Array.from(result.predictions[0]![0]!));
  });

  it('scores a batch of descriptions of different prefix lengths in one pass, right-padded with PAD, equal to one description per pass', async () => {
    const descriptions = ['cats', 'years, dates and other numbers written with digits', 'the token " the"', 'x'];
    const sequences = [sentence, [128000, ...sentence.slice(0, 3)], []];
    const batched = spy(engine);
    const together = await new FinetunedSimulator(batched, settings(), provenance).simulate({
      descriptions,
      sequences,
    });
    const single = spy(engine);
    const alone = await new FinetunedSimulator(single, settings({ batchSize: 1 }), provenance).simulate({
      descriptions,
      sequences,
    });
    assert.equal(batched.requests.length, 1, '8 rows (4 descriptions x 2 non-empty exemplars) in one pass');
    assert.equal(single.requests.length, 8);
    for (let d = 0; d < descriptions.length; d++) {
      for (let s = 0; s < sequences.length; s++) {
        assert.equal(together.predictions[d]![s]!.length, sequences[s]!.length);
        assertClose(together.predictions[d]![s]!, alone.predictions[d]![s]!, 1e-5, `description ${d}, sequence ${s}`);
      }
    }
    const request = batched.requests[0]!;
    assert.equal(request.logits, 'all');
    assert.deepEqual(request.logitIds, BINS);
    const lengths = Array.from(request.lengths!);
    assert.ok(new Set(lengths).size > 1, 'rows of different lengths');
    for (let row = 0; row < request.batch; row++) {
      const padding = request.tokens.subarray(row * request.seqLen + lengths[row]!, (row + 1) * request.seqLen);
      assert.ok(
        padding.every((id) => id === 128256),
        `row ${row} is padded with PAD`,
      );
      const real = request.tokens.subarray(row * request.seqLen, row * request.seqLen + lengths[row]!);
      assert.ok(!real.some((id) => id === 128000 || id === 128256), `row ${row}: no raw BOS, no PAD among real tokens`);
    }
  });

  it('answers a rerun from the durable cache without a forward pass', async () => {
    const descriptions = ['cats', 'dogs'];
    const sequences = [sentence];
    const first = spy(engine);
    const a = await new FinetunedSimulator(
      first,
      settings({ callCache: new CallCache(cacheDir, 'simulator/finetuned') }),
      provenance,
    ).simulate({
      descriptions,
      sequences,
    });
    assert.equal(first.requests.length, 1);
    const second = spy(engine);
    const rerun = new FinetunedSimulator(
      second,
      settings({ callCache: new CallCache(cacheDir, 'simulator/finetuned') }),
      provenance,
    );
    const simulator = rerun;
    const b = await rerun.simulate({ descriptions: [...descriptions, 'birds'], sequences });
    assert.equal(second.requests.length, 1, 'only the new description runs');
    assert.equal(second.requests[0]!.batch, 1);
    assert.deepEqual(rerun.stats, {
      passes: 1,
      rows: 1,
      tokens: simulator.prefixIds('birds').length + sentence.length,
      cached: 2,
    });
    assert.deepEqual(b.usage, { passes: 1, tokens: rerun.stats.tokens, cachedPredictions: 2 });
    assert.deepEqual(b.predictions.slice(0, 2), a.predictions);
  });

  it("reuses each description's prefix KV cache for its exemplars: predictions equal recomputing whole rows", async () => {
    const descriptions = [
      'cats',
      'years, dates and other numbers written with digits, such as 1999 or 2024',
      'cats',
      'the token " the" at the start of a clause',
      'x',
    ];
    const sequences = [
      sentence,
      [128000, 128006, 882, 128007, 271, ...sentence.slice(0, 4), 128009],
      [],
      sentence.slice(2),
      [128000],
    ];
    const reuse = new FinetunedSimulator(engine, settings({ batchSize: 3 }), provenance);
    const whole = new FinetunedSimulator(engine, settings({ batchSize: 3, prefixReuse: false }), provenance);
    assert.equal(reuse.provenance.settings?.['prefixReuse'], true);
    assert.equal(whole.provenance.settings?.['prefixReuse'], false);
    const a = await reuse.simulate({ descriptions, sequences });
    const b = await whole.simulate({ descriptions, sequences });
    for (let d = 0; d < descriptions.length; d++)
      for (let s = 0; s < sequences.length; s++)
        assertClose(a.predictions[d]![s]!, b.predictions[d]![s]!, 1e-5, `description ${d}, sequence ${s}`);
    // Model tokens: each distinct prefix once, against once per (description, non-empty sequence) row.
    const prefixes = descriptions.map((d) => reuse.prefixIds(d));
    const exemplarTokens = sequences.reduce((n, q) => n + q.length, 0);
    const distinct = [...new Set(descriptions)].reduce((n, d) => n + reuse.prefixIds(d).length, 0);
    assert.equal(a.usage.tokens, distinct + descriptions.length * exemplarTokens);
    assert.equal(b.usage.tokens, 4 * prefixes.reduce((n, p) => n + p.length, 0) + descriptions.length * exemplarTokens);
    // 4 distinct prefixes in 2 passes of 3, then 20 rows in 7 passes of 3.
    assert.equal(a.usage.passes, 2 + 7);
    // A spy without forwardWithPrefixes gets whole rows, whatever the setting.
    const plain = spy(engine);
    await new FinetunedSimulator(plain, settings(), provenance).simulate({
      descriptions: ['a'],
      sequences: [sentence],
    });
    assert.equal(plain.requests.length, 1);
  });

  it('handles no descriptions and empty sequences, and refuses ids outside the shared vocabulary', async () => {
    const simulator = new FinetunedSimulator(engine, settings(), provenance);
    assert.deepEqual((await simulator.simulate({ descriptions: [], sequences: [sentence] })).predictions, []);
    assert.deepEqual((await simulator.simulate({ descriptions: ['a'], sequences: [[]] })).predictions, [
      [new Float32Array(0)],
    ]);
    await assert.rejects(
      simulator.simulate({ descriptions: ['a'], sequences: [[5, 128256]] }),
      /token 1 of sequence 0 is 128256, outside the vocabulary it shares with the subject \(0\.\.128255\)/,
    );
  });

  it('refuses settings the model cannot serve', () => {
    assert.throws(
      () => new FinetunedSimulator(engine, settings({ binIds: [0, 128261] }), provenance),
      /bin id 128261 is outside the simulator's vocabulary \(0\.\.128260\)/,
    );
    assert.throws(
      () => new FinetunedSimulator(engine, settings({ remap: new Map([[128000, 130000]]) }), provenance),
      /remap target 130000/,
    );
    assert.throws(() => new FinetunedSimulator(engine, settings({ padId: -1 }), provenance), /padId -1/);
  });
});

describe('the finetuned simulator and the subject tokenizer', () => {
  const context = (subject: ComponentContext['subject']): ComponentContext => ({
    provenance,
    baseDir: process.cwd(),
    cacheDir: join(tmpdir(), 'expgen-never-written'),
    logger: memoryLogger(),
    ...(subject ? { subject } : {}),
  });
  const declaration = llama.components.find((c) => c.kind === 'simulator' && c.name === 'finetuned')!;

  it('refuses a subject whose tokenizer differs from its base vocabulary, before loading anything', async () => {
    await assert.rejects(
      declaration.create(declaration.options.parse({}), context(fakeSubjectModel())),
      (error: unknown) => {
        assert.ok(isExpgenError(error));
        assert.match(
          (error as Error).message,
          /the subject's tokenizer \(259 ids, fingerprint [0-9a-f]{12}\) differs from the fine-tuned simulator's base vocabulary \(Llama-3\.1: 128256 ids/,
        );
        assert.match((error as Error).message, /reads the subject's token ids directly/);
        return true;
      },
    );
    await assert.rejects(
      declaration.create(declaration.options.parse({}), context(undefined)),
      /needs the subject model/,
    );
  });

  it("accepts the subject's own vocabulary, and a simulator tokenizer that lists extra ids after it", async () => {
    const base = await LlamaTokenizer.llama31();
    checkSharedVocabulary(base, base, 'Llama-3.1');
    const files = await llama31TokenizerFiles();
    const extra = ['<PAD>', '<||begin_of_text||>', '<||start_header_id||>', '<||end_header_id||>', '<||eot_id||>'].map(
      (content, i) => ({ id: 128256 + i, content, special: i === 0 }),
    );
    const added = [...(files.tokenizerJson['added_tokens'] as unknown[]), ...extra];
    const extended = new LlamaTokenizer(
      { tokenizerJson: { ...files.tokenizerJson, added_tokens: added }, tokenizerConfig: files.tokenizerConfig },
      { source: 'extended' },
    );
    assert.equal(extended.vocabSize, 128261);
    assert.notEqual(extended.fingerprint, base.fingerprint);
    checkSharedVocabulary(base, extended, 'extended');
    assert.throws(
      () => checkSharedVocabulary(fakeSubjectModel().tokenizer, extended, 'extended'),
      /differs from the fine-tuned simulator's base vocabulary \(extended: 128261 ids/,
    );
  });
});
