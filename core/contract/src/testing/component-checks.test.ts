// checkComponent catches broken components of every kind, fragments that disagree with their encode included.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ActivationSource } from '../activation-source.js';
import type { DatasetSource } from '../dataset-source.js';
import type { Describer } from '../describer.js';
import { memoryLogger } from '../memory-logger.js';
import type { ComponentContext } from '../plugin.js';
import type { ComponentKind } from '../provenance.js';
import type { SimulationScorer } from '../scorer.js';
import type { Simulator } from '../simulator.js';
import type { SubjectModel } from '../subject-model.js';
import { assertCaseOutput, caseOutput } from './contract-cases.js';
import { checkComponent } from './contract-suite.js';
import { fakeActivationSource, fakeDataset, fakeDescriber, fakeProvenance, fakeSimulator } from './fake-components.js';
import { fakeSubjectModel } from './fake-subject-model.js';
import { DOCS, pearsonScorer, reluSource } from './kit-fixtures.test-util.js';

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
    const zero: SimulationScorer = {
      ...pearsonScorer(),
      score: (r) => ({ ...pearsonScorer().score(r), value: pearsonScorer().score(r).value ?? 0 }),
    };
    await assert.rejects(
      checkComponent('scorer', zero, context('scorer')),
      /a constant prediction has an undefined score: null, never 0 or NaN/,
    );
  });
});
