import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { memoryLogger } from '@expgen/contract/testing';
import {
  definePlugin,
  reduceOnHost,
  s,
  type ForwardRequest,
  type ForwardResult,
  type SubjectModel,
  type Tokenizer,
  type ComponentContext,
} from '@expgen/contract';
import {
  composeRun,
  ExemplarLibrary,
  loadConfig,
  PluginRegistry,
  resolveConfig,
  runPipeline,
  type ResultRow,
} from '@expgen/core';
import { scoredSequence, pooledPearson } from '@expgen/plugin-kit';
import { LlamaTokenizer } from '@expgen/plugin-llama';
import baseline from '@expgen/plugin-baseline';
import datasets from '@expgen/plugin-datasets';
import neurons from '@expgen/plugin-neurons';
import { tempDir } from './helpers/run-cli.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const ANIMALS = ['cat', 'dog', 'horse', 'bird', 'fox', 'owl', 'fish', 'cow', 'sheep', 'goat'];

/**
 * A subject whose four MLP "neurons" follow known rules over the real Llama-3.1 tokens: 0 fires on numbers,
 * 1 on a list of animal words, 2 on the token after "the", 3 fires negatively on punctuation. Everything else
 * about the pipeline is real: corpus, windows, exemplar files, prompts, describer, simulator, scorer.
 */
function plantedSubject(tokenizer: Tokenizer): SubjectModel {
  const text = (id: number) => (tokenizer.isSpecial(id) ? '' : tokenizer.decode([id]).trim().toLowerCase());
  const rules = (token: number, previous: number): number[] => [
    /^\d+$/.test(text(token)) ? 5 : 0,
    ANIMALS.includes(text(token)) ? 4 : 0,
    previous >= 0 && text(previous) === 'the' ? 3 : 0,
    /^[.,;:!?]+$/.test(text(token)) ? -4 : 0,
  ];
  const width = 4;
  const provenance = { kind: 'subject-model' as const, component: 'planted', plugin: 'test', pluginVersion: '0' };
  return {
    provenance,
    info: {
      architecture: 'planted',
      layers: 1,
      hiddenSize: width,
      intermediateSize: width,
      vocabSize: tokenizer.vocabSize,
      executionProvider: 'host',
      dtype: 'fp32',
      hashes: {},
    },
    tokenizer,
    runsGraphFragments: false,
    hookPoints: () => [{ name: 'mlp/0', width }],
    async forward(request: ForwardRequest): Promise<ForwardResult> {
      const { batch, seqLen, tokens } = request;
      const full = new Float32Array(batch * seqLen * width);
      for (let b = 0; b < batch; b++) {
        for (let t = 0; t < seqLen; t++)
          full.set(rules(tokens[b * seqLen + t]!, t > 0 ? tokens[b * seqLen + t - 1]! : -1), (b * seqLen + t) * width);
      }
      const shape = {
        batch,
        seqLen,
        width,
        ...(request.lengths ? { lengths: request.lengths } : {}),
        ...(request.countFrom ? { countFrom: request.countFrom } : {}),
      };
      return { hooks: request.hooks.map((h) => reduceOnHost(full, shape, h)) };
    },
    async generate() {
      throw new Error('the planted subject does not generate');
    },
  };
}

function context(
  kind: ComponentContext['provenance']['kind'],
  component: string,
  subject: SubjectModel,
): ComponentContext {
  return {
    provenance: { kind, component, plugin: 'test', pluginVersion: '0' },
    baseDir: repoRoot,
    cacheDir: tempDir(),
    logger: memoryLogger(),
    subject,
  };
}

const create = <T>(
  plugin: {
    components: readonly {
      kind: string;
      name: string;
      options: { parse(v: unknown): unknown };
      create(o: never, c: ComponentContext): Promise<unknown>;
    }[];
  },
  kind: ComponentContext['provenance']['kind'],
  name: string,
  raw: unknown,
  subject: SubjectModel,
) => {
  const declaration = plugin.components.find((c) => c.kind === kind && c.name === name)!;
  return declaration.create(declaration.options.parse(raw) as never, context(kind, name, subject)) as Promise<T>;
};

describe('planted features are recovered by the pipeline with the baseline components', () => {
  const out = tempDir('expgen-planted-');
  let subject: SubjectModel;
  let rows: readonly ResultRow[];

  before(async () => {
    subject = plantedSubject(await LlamaTokenizer.llama31());
    // The planted subject is a plugin like any other: the container creates everything around it.
    const planted = definePlugin({
      meta: { name: 'test-planted', version: '0', apiVersion: 1 },
      components: [
        {
          kind: 'subject-model',
          name: 'planted',
          description: 'Four MLP neurons that follow known rules.',
          options: s.object({}),
          create: async () => subject,
        },
      ],
    });
    const settings = {
      exemplars: {
        sequences: 900,
        seqLen: 32,
        windowsPerDocument: 8,
        shortDocuments: 'pad',
        topK: 20,
        randomPerFeature: 5,
        extremesKept: 1000,
        batchSize: 32,
      },
      describe: { candidates: 12, exemplarsPerPrompt: { min: 15, max: 20 }, fromTopRanks: 20 },
      score: { selection: { top: 10, random: 3 }, report: { top: 10, random: 3 }, bootstrap: 300 },
    };
    const loaded = await loadConfig({
      search: false,
      cwd: repoRoot,
      sets: [
        'subject={component: planted}',
        'activation={component: mlp}',
        'describer={component: baseline, options: {maxTokens: 12}}',
        'simulator={component: baseline}',
        'scorer={component: correlation}',
        `datasets=[{component: jsonl, name: demo, options: {path: ${JSON.stringify(`${repoRoot}examples/corpus/demo.jsonl`)}}}]`,
        ...Object.entries(settings).map(([key, value]) => `${key}=${JSON.stringify(value)}`),
      ],
    });
    const config = resolveConfig(loaded, PluginRegistry.of([planted, neurons, datasets, baseline]));
    const run = await composeRun({
      config,
      stages: ['exemplars', 'describe', 'score'],
      logger: memoryLogger(),
      progress: false,
    });
    try {
      const result = await runPipeline({
        run,
        config: config.config,
        outDir: out,
        stages: ['exemplars', 'describe', 'score'],
        featuresBaseDir: repoRoot,
      });
      rows = result.rows!;
    } finally {
      await run.dispose();
    }
  });

  const row = (index: number, sign: 'positive' | 'negative') =>
    rows.find((r) => r.feature === `mlp/0/${index}` && r.sign === sign)!;

  it('finds descriptions naming the right tokens and scores them well above the null baseline', () => {
    const digits = row(0, 'positive');
    const animals = row(1, 'positive');
    const punctuation = row(3, 'negative');
    // Floors are what a token-list describer can reach on each rule with this corpus: punctuation is a small closed
    // set, numbers an open one (test exemplars hold numbers the train ones lack), animals are rare in the corpus.
    for (const [what, r, floor] of [
      ['numbers', digits, 0.4],
      ['animals', animals, 0.2],
      ['punctuation', punctuation, 0.7],
    ] as const) {
      assert.equal(r.status, 'scored', `${what}: ${r.reason}`);
      assert.ok(r.score !== null && r.score > floor, `${what}: "${r.description}" scores ${r.score}`);
      assert.ok(r.nullScore === null || r.score - r.nullScore > 0.3, `${what}: ${r.score} vs null ${r.nullScore}`);
    }
    // "The token after 'the'" is a context rule no list of tokens expresses: the baseline must not look good on it.
    const context = row(2, 'positive');
    assert.ok(context.score === null || context.score < punctuation.score!, `context rule: ${context.score}`);
    assert.match(digits.description!, /"\d+"/, 'the numbers feature is described by number tokens');
    for (const word of animals.description!.match(/"([^"]+)"/g)!.map((q) => q.slice(1, -1).toLowerCase()))
      assert.ok(ANIMALS.includes(word), `"${word}" is an animal`);
    assert.match(punctuation.description!, /"[.,;:!?]+"/);
    // A sign the feature never takes is skipped, not described with placeholder text.
    assert.equal(row(0, 'negative').status, 'skipped');
    assert.equal(row(3, 'positive').status, 'skipped');
  });

  it('a hand-written true description outscores wrong ones under the simulator', async () => {
    const library = ExemplarLibrary.open(out);
    const simulator = await create<{ simulate: SubjectModel['forward'] } & import('@expgen/core').Simulator>(
      baseline,
      'simulator',
      'baseline',
      {},
      subject,
    );
    try {
      const cases = [
        {
          feature: 1,
          sign: 'positive' as const,
          truth: `the tokens ${ANIMALS.map((a) => JSON.stringify(a)).join(', ')}`,
          wrong: ['the tokens "the", "a"', 'the tokens "."', 'the tokens "1", "2", "3"'],
        },
        {
          feature: 3,
          sign: 'negative' as const,
          truth: 'the tokens ".", ",", ";", ":", "!", "?"',
          wrong: ['the tokens "cat", "dog"', 'the tokens "the"', 'the tokens "1"'],
        },
      ];
      for (const c of cases) {
        const test = await library.exemplars({ space: 'mlp', layer: 0, index: c.feature }, 'test');
        const sequences = [
          ...(c.sign === 'positive' ? test.positive : test.negative).slice(0, 10),
          ...test.random.slice(0, 3),
        ];
        const descriptions = [c.truth, ...c.wrong];
        const simulated = await simulator.simulate({ descriptions, sequences: sequences.map((s) => [...s.tokens]) });
        const scores = descriptions.map(
          (_, d) =>
            pooledPearson(
              sequences.map((s, i) =>
                scoredSequence(
                  c.sign,
                  { activations: s.activations, countFrom: s.countFrom },
                  simulated.predictions[d]![i]!,
                ),
              ),
            ) ?? -1,
        );
        for (let w = 1; w < scores.length; w++)
          assert.ok(
            scores[0]! > scores[w]! + 0.3,
            `feature ${c.feature}: true ${scores[0]} vs "${descriptions[w]}" ${scores[w]}`,
          );
      }
    } finally {
      await library.close();
    }
  });
});
