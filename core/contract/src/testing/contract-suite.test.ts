// The kit run on its own fakes, as plugin authors run it: every component honours its kind's contract, and the
// authors' own cases (valid and invalid) are tests of their own. What the checks catch is component-checks.test.ts.
import { ExpgenError } from '../errors.js';
import type { ComponentContext, ExpgenPlugin } from '../plugin.js';
import { s } from '../schema.js';
import { contractSuite } from './contract-suite.js';
import { fakeActivationSource, fakeDataset, fakeDescriber, fakeSimulator } from './fake-components.js';
import { fakeSubjectModel } from './fake-subject-model.js';
import { DOCS, pearsonScorer, reluSource } from './kit-fixtures.test-util.js';

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
