import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ActivationSource } from '../activation-source.js';
import type { DatasetSource, SourceDocument } from '../dataset-source.js';
import type { Describer } from '../describer.js';
import type { ComponentContext, ExpgenPlugin } from '../plugin.js';
import type { ComponentKind } from '../provenance.js';
import type { Scorer } from '../scorer.js';
import type { Simulator } from '../simulator.js';
import type { SubjectModel } from '../subject-model.js';
import type { GraphFragment } from '../graph-fragment.js';
import type { Provenance } from '../provenance.js';
import { ExpgenError } from '../errors.js';
import { memoryLogger } from '../memory-logger.js';
import { s } from '../schema.js';
import { assertCaseOutput, caseOutput } from './contract-cases.js';
import { checkComponent, contractSuite } from './contract-suite.js';
import { fakeActivationSource, fakeDataset, fakeDescriber, fakeProvenance, fakeSimulator } from './fake-components.js';
import { fakeSubjectModel } from './fake-subject-model.js';

/** A small Pearson-correlation scorer: null when either side is constant. */
function pearsonScorer(provenance = fakeProvenance('scorer', 'pearson')): Scorer {
  return {
    provenance,
    score({ predicted, actual }) {
      const x = predicted.flatMap((p) => [...p]);
      const y = actual.flatMap((a) => [...a]);
      const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
      const [mx, my] = [mean(x), mean(y)];
      let [sxy, sxx, syy] = [0, 0, 0];
      x.forEach((xi, i) => {
        sxy += (xi - mx) * (y[i]! - my);
        sxx += (xi - mx) ** 2;
        syy += (y[i]! - my) ** 2;
      });
      const value = sxx === 0 || syy === 0 ? null : sxy / Math.sqrt(sxx * syy);
      return { value, stats: { n: x.length }, scoredBy: provenance };
    },
  };
}

const DOCS: SourceDocument[] = [
  { id: 'a', text: 'The cat sat on the mat.' },
  {
    id: 'b',
    messages: [
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: 'Hi!' },
    ],
  },
  { id: 'c', text: 'Numbers: 1 2 3.' },
];

/** The testing kit's fakes as a plugin, each stamped with the provenance its context gives it. */
const fakesPlugin: ExpgenPlugin = {
  meta: { name: 'expgen-plugin-fakes', version: '0.0.1', apiVersion: 1 },
  components: [
    {
      kind: 'subject-model',
      name: 'fake',
      description: 'the fake subject',
      options: s.object({ layers: s.integer({ min: 1 }).default(2) }),
      create: async (o: { layers: number }, c: ComponentContext) =>
        fakeSubjectModel({ layers: o.layers, provenance: c.provenance }),
    },
    {
      kind: 'activation-source',
      name: 'fake-mlp',
      description: 'MLP neurons of the fake subject',
      options: s.object({}),
      needs: ['subject-model'],
      create: async (_o: unknown, c: ComponentContext) => ({
        ...fakeActivationSource(c.subject!),
        provenance: c.provenance,
      }),
    },
    {
      kind: 'dataset',
      name: 'memory',
      description: 'documents from memory',
      options: s.object({ count: s.integer({ min: 1 }).default(3) }),
      create: async (o: { count: number }, c: ComponentContext) => ({
        ...fakeDataset(DOCS.slice(0, o.count), 'memory'),
        provenance: c.provenance,
      }),
    },
    {
      kind: 'describer',
      name: 'fake',
      description: 'always says "cat"',
      options: s.object({}),
      needs: ['subject-model'],
      create: async (_o: unknown, c: ComponentContext) => ({
        ...fakeDescriber(() => ['the word "cat"', 'cats']),
        provenance: c.provenance,
      }),
    },
    {
      // A describer that needs no subject (like one behind an API): the suite must still be able to check it.
      kind: 'describer',
      name: 'remote',
      description: 'needs no subject',
      options: s.object({}),
      create: async (_o: unknown, c: ComponentContext) => ({
        ...fakeDescriber(() => ['remote']),
        provenance: c.provenance,
      }),
    },
    {
      kind: 'simulator',
      name: 'fake',
      description: 'predicts 10 on "c"',
      options: s.object({}),
      needs: ['subject-model'],
      create: async (_o: unknown, c: ComponentContext) => ({
        ...fakeSimulator((_d, tokens) => tokens.map((t) => (t === 99 + 3 ? 10 : 0))),
        provenance: c.provenance,
      }),
    },
    {
      kind: 'scorer',
      name: 'pearson',
      description: 'correlation',
      options: s.object({}),
      create: async (_o: unknown, c: ComponentContext) => pearsonScorer(c.provenance),
    },
    {
      kind: 'scorer',
      name: 'skipped',
      description: 'left out by the fixtures',
      options: s.object({}),
      create: async () => {
        throw new Error('a skipped component is never created');
      },
    },
  ],
};

/**
 * Rectified residual dimensions: `max(0, x)` at `resid/<layer>`, computed in the subject's graph by a Relu fragment
 * and on the host by `encode`. `negate: true` is the classic bug: a Neg fragment beside an identity encode.
 */
function reluSource(subject: SubjectModel, provenance: Provenance, negate = false): ActivationSource {
  const width = subject.hookPoints().find((h) => h.name === 'resid/0')!.width;
  const layers = subject
    .hookPoints()
    .filter((h) => h.name.startsWith('resid/'))
    .map((h) => Number(h.name.slice('resid/'.length)));
  const fragment: GraphFragment = {
    name: 'relu',
    input: 'x',
    output: 'y',
    inputWidth: width,
    outputWidth: width,
    initializers: [],
    nodes: [{ op: negate ? 'Neg' : 'Relu', inputs: ['x'], outputs: ['y'] }],
  };
  return {
    provenance,
    space: 'relu-resid',
    signs: ['positive'],
    layers: () => layers,
    plan: (layer) => {
      if (!layers.includes(layer)) throw new ExpgenError(`no layer ${layer}`);
      return { layer, hook: `resid/${layer}`, hookWidth: width, width, fragment };
    },
    encode: (_layer, values) => (negate ? values.slice() : values.map((v) => Math.max(0, v))),
  };
}

const reluPlugin: ExpgenPlugin = {
  meta: { name: 'expgen-plugin-relu', version: '0.0.1', apiVersion: 1 },
  components: [
    {
      kind: 'activation-source',
      name: 'relu-resid',
      description: 'rectified residual dimensions',
      options: s.object({ layer: s.integer({ min: 0 }).nullable().default(null) }),
      needs: ['subject-model'],
      create: async (o: { layer: number | null }, c: ComponentContext) => {
        if (o.layer !== null && !c.subject!.hookPoints().some((h) => h.name === `resid/${o.layer}`))
          throw new ExpgenError(`activation.options.layer: the subject has no layer ${o.layer}`);
        return reluSource(c.subject!, c.provenance);
      },
    },
  ],
};

// The kit, run on the fakes: every component above must honour its kind's contract.
contractSuite(fakesPlugin, {
  options: { 'dataset/memory': { count: 2 } },
  skip: { 'scorer/skipped': 'exercises ContractFixtures.skip' },
  cases: {
    'scorer/pearson': {
      valid: [
        { name: 'perfect', input: { predicted: [[0, 1, 2]], actual: [[0, 2, 4]] }, expected: 1 },
        { name: 'opposite', input: { predicted: [[0, 1, 2]], actual: [[2, 1, 0]] }, expected: -1 },
        { name: 'constant', input: { predicted: [[1, 1, 1]], actual: [[0, 1, 2]] }, expected: null },
      ],
    },
    'dataset/memory': {
      valid: [{ options: { count: 1 }, expected: [{ id: 'a', text: 'The cat sat on the mat.' }] }],
      invalid: [{ name: 'no documents', options: { count: 0 }, error: /count: expected an integer >= 1/ }],
    },
    'describer/remote': {
      valid: [
        {
          input: {
            feature: { space: 'mlp', layer: 0, index: 1 },
            sign: 'positive',
            exemplars: [],
            threshold: 1,
            messages: [{ role: 'user', content: 'x' }],
            count: 2,
            seed: 5,
          },
          expected: ['remote', 'remote'],
        },
      ],
    },
  },
});

// A source with a fragment: its fragment runs on the fake subject's interpreter and agrees with its encode; the
// author's cases check both paths on given hook values, and refusals.
contractSuite(reluPlugin, {
  cases: {
    'activation-source/relu-resid': {
      valid: [
        {
          name: 'negative values become 0',
          input: { layer: 1, hookValues: [[-1, 0.5, 2, -3]] },
          expected: [[0, 0.5, 2, 0]],
        },
      ],
      invalid: [
        {
          name: 'a layer the subject lacks',
          options: { layer: 7 },
          error: 'activation.options.layer: the subject has no layer 7',
        },
        { name: 'a bad option', options: { layer: -1 }, error: /layer: expected an integer >= 0/ },
        { name: 'planning a missing layer', input: { layer: 9, hookValues: [[0, 0, 0, 0]] }, error: 'no layer 9' },
      ],
    },
  },
});

// And the kit with a caller-provided subject.
contractSuite(
  {
    ...fakesPlugin,
    components: fakesPlugin.components.filter((c) => c.kind === 'describer' || c.kind === 'simulator'),
  },
  {
    subject: () => fakeSubjectModel({ layers: 1, mlpWidth: 4 }),
  },
);

function context(kind: ComponentKind, subject?: SubjectModel): ComponentContext {
  return {
    provenance: fakeProvenance(kind),
    baseDir: process.cwd(),
    cacheDir: process.cwd(),
    logger: memoryLogger(),
    ...(subject ? { subject } : {}),
  };
}

describe('checkComponent catches broken components', () => {
  const subject = fakeSubjectModel();

  it('a dataset whose second pass differs', async () => {
    let pass = 0;
    const dataset: DatasetSource = {
      provenance: fakeProvenance('dataset'),
      name: 'unstable',
      async *documents() {
        pass++;
        yield { id: `doc-${pass}`, text: 'x' };
      },
    };
    await assert.rejects(checkComponent('dataset', dataset, context('dataset')), {
      name: 'AssertionError',
      message: /a second pass yields the same documents in the same order/,
    });
  });

  it('a dataset that yields nothing, a bad name, or a document with both text and messages', async () => {
    await assert.rejects(
      checkComponent('dataset', fakeDataset([], 'empty'), context('dataset')),
      /a dataset yields documents/,
    );
    await assert.rejects(
      checkComponent('dataset', fakeDataset(DOCS, 'has space'), context('dataset')),
      /dataset name is a simple identifier/,
    );
    await assert.rejects(
      checkComponent('dataset', fakeDataset([{ id: 'x', text: 't', messages: [] }]), context('dataset')),
      /exactly one of text and messages/,
    );
  });

  it('accepts the fakes as they are', async () => {
    await checkComponent('dataset', fakeDataset(DOCS), context('dataset'));
    await checkComponent('subject-model', subject, context('subject-model'));
    await checkComponent('activation-source', fakeActivationSource(subject), context('activation-source'));
    await checkComponent('scorer', pearsonScorer(), context('scorer'));
  });

  it('a subject whose in-graph reductions disagree with the host reference', async () => {
    const liar: SubjectModel = {
      ...subject,
      forward: async (request) => {
        const result = await subject.forward(request);
        return { ...result, hooks: result.hooks.map((h) => (h.max ? { ...h, max: h.max.map((v) => v + 1) } : h)) };
      },
    };
    await assert.rejects(checkComponent('subject-model', liar, context('subject-model')), /per-sequence max\[0\]/);
  });

  it("a subject that ignores countFrom, or applies one row's countFrom to every row", async () => {
    const ignores: SubjectModel = {
      ...subject,
      forward: async (request) => subject.forward({ ...request, countFrom: undefined }),
    };
    await assert.rejects(
      checkComponent('subject-model', ignores, context('subject-model')),
      /per-sequence (max|min)\[\d+\]/,
    );
    // What a per-hook scalar would do: the first row's prefix length stands for every row's.
    const scalar: SubjectModel = {
      ...subject,
      forward: async (request) =>
        subject.forward({
          ...request,
          ...(request.countFrom ? { countFrom: request.countFrom.map(() => request.countFrom![0]!) } : {}),
        }),
    };
    await assert.rejects(
      checkComponent('subject-model', scalar, context('subject-model')),
      /per-sequence (max|min)\[\d+\]/,
    );
  });

  it('a subject whose greedy decoding is not deterministic', async () => {
    let calls = 0;
    const moody: SubjectModel = {
      ...subject,
      generate: async (request) => {
        const result = await subject.generate(request);
        return calls++ === 0
          ? result
          : {
              ...result,
              sequences: result.sequences.map((q) => ({ ...q, tokens: q.tokens.map((t) => (t + 1) % 259) })),
            };
      },
    };
    await assert.rejects(
      checkComponent('subject-model', moody, context('subject-model')),
      /greedy decoding is deterministic/,
    );
  });

  it('an activation source with layers out of order or that plans missing layers', async () => {
    const source = fakeActivationSource(fakeSubjectModel({ layers: 3 }));
    const unordered: ActivationSource = { ...source, layers: () => [2, 0, 1] };
    await assert.rejects(
      checkComponent('activation-source', unordered, context('activation-source')),
      /layers are ascending/,
    );
    const lenient: ActivationSource = { ...source, plan: (layer) => source.plan(Math.min(layer, 2)) };
    await assert.rejects(
      checkComponent('activation-source', lenient, context('activation-source')),
      /planning a layer that does not exist fails/,
    );
    const badEncode: ActivationSource = { ...source, encode: (_l, values) => values.slice(1) };
    await assert.rejects(
      checkComponent('activation-source', badEncode, context('activation-source')),
      /encode maps \[rows, hookWidth\] to \[rows, width\]/,
    );
  });

  it('an activation source whose graph fragment disagrees with its encode (a Neg fragment, an identity encode)', async () => {
    const graphs = fakeSubjectModel({ runsGraphFragments: true });
    await checkComponent('activation-source', reluSource(graphs, fakeProvenance('activation-source')), {
      ...context('activation-source', graphs),
    });
    await assert.rejects(
      checkComponent('activation-source', reluSource(graphs, fakeProvenance('activation-source'), true), {
        ...context('activation-source', graphs),
      }),
      /layer 0: graph fragment "relu" vs encode: \d+ of \d+ values disagree/,
      'run in the subject graph',
    );
    // A subject that runs no graphs: the fragment runs on the kit's interpreter instead, with the same verdict.
    await assert.rejects(
      checkComponent('activation-source', reluSource(subject, fakeProvenance('activation-source'), true), {
        ...context('activation-source', subject),
      }),
      /graph fragment "relu" vs encode: \d+ of \d+ values disagree/,
    );
  });

  it("a case's output that differs from what the author expected, on either path", async () => {
    const graphs = fakeSubjectModel({ runsGraphFragments: true });
    const bad = reluSource(graphs, fakeProvenance('activation-source'), true);
    const output = await caseOutput(
      'activation-source',
      bad,
      { layer: 0, hookValues: [[-1, 1, 2, 3]] },
      graphs.tokenizer,
    );
    assert.throws(
      () => assertCaseOutput('activation-source', output, [[-1, 1, 2, 3]], 1e-5),
      /the graph fragment\[0\]\[0\]: 1, expected -1/,
      'encode matches what was asked, the fragment does not',
    );
    assert.throws(() => assertCaseOutput('scorer', 0.5, 0.6, 1e-5), /scorer: 0.5, expected 0.6/);
  });

  it('a describer that returns empty descriptions or wrong seeds', async () => {
    await assert.rejects(
      checkComponent(
        'describer',
        fakeDescriber(() => ['']),
        context('describer', subject),
      ),
      /no empty description/,
    );
    const wrongSeeds: Describer = {
      provenance: fakeProvenance('describer'),
      describe: async (r) => ({
        candidates: Array.from({ length: r.count }, () => ({
          description: 'd',
          seed: r.seed,
          describedBy: fakeProvenance('describer'),
        })),
        failures: [],
      }),
    };
    await assert.rejects(
      checkComponent('describer', wrongSeeds, context('describer', subject)),
      /candidate i has seed \+ i/,
    );
    const short = fakeDescriber(() => []);
    await assert.rejects(
      checkComponent('describer', short, context('describer', subject)),
      /every requested candidate is either returned or reported as failed/,
    );
  });

  it('a simulator with the wrong number of predictions or non-finite ones', async () => {
    await assert.rejects(
      checkComponent(
        'simulator',
        fakeSimulator((_d, t) => t.slice(1)),
        context('simulator', subject),
      ),
      /one prediction per token/,
    );
    await assert.rejects(
      checkComponent(
        'simulator',
        fakeSimulator((_d, t) => t.map(() => Number.NaN)),
        context('simulator', subject),
      ),
      /predictions are finite/,
    );
    const oneOnly: Simulator = {
      ...fakeSimulator(() => []),
      simulate: async (r) => ({
        predictions: [r.sequences.map((t) => new Float32Array(t.length))],
        mode: 'x',
        simulatedBy: fakeProvenance('simulator'),
      }),
    };
    await assert.rejects(
      checkComponent('simulator', oneOnly, context('simulator', subject)),
      /one prediction set per description/,
    );
  });

  it('checks describers and simulators that need no subject', async () => {
    await checkComponent(
      'describer',
      fakeDescriber(() => ['d']),
      context('describer'),
    );
    await checkComponent(
      'simulator',
      fakeSimulator((_d, t) => t.map(() => 1)),
      context('simulator'),
    );
  });

  it('a scorer that scores a constant prediction as 0 instead of null', async () => {
    const zero: Scorer = {
      ...pearsonScorer(),
      score: (r) => ({ ...pearsonScorer().score(r), value: pearsonScorer().score(r).value ?? 0 }),
    };
    await assert.rejects(
      checkComponent('scorer', zero, context('scorer')),
      /a constant prediction has an undefined score: null, never 0 or NaN/,
    );
  });
});
