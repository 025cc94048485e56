import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../config/load-config.js';
import {
  ExpgenError,
  isExpgenError,
  type AnyComponentDeclaration,
  type ComponentContext,
  type ExpgenPlugin,
  type ComponentKind,
  s,
} from '@expgen/contract';
import { PluginRegistry } from '../plugins/plugin-registry.js';
import {
  fakeActivationSource,
  fakeDataset,
  fakeDescriber,
  fakeSimulator,
  fakeSubjectModel,
  memoryLogger,
} from '@expgen/contract/testing';
import { composeRun, type ComposeOptions } from './composition-root.js';

const tmp = mkdtempSync(join(tmpdir(), 'expgen-compose-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** What the fake components saw and did, in order. */
interface Journal {
  readonly events: string[];
  readonly contexts: Map<string, ComponentContext>;
  readonly options: Map<string, unknown>;
}

function fakePlugin(journal: Journal): ExpgenPlugin {
  const { events, contexts, options: seen } = journal;
  /** Wraps a factory: records its context and options, and makes the component's dispose leave a trace. */
  const declare = <O>(
    kind: ComponentKind,
    name: string,
    options: AnyComponentDeclaration['options'],
    make: (options: O, context: ComponentContext) => object,
    extra: { needs?: readonly 'subject-model'[]; disposeError?: string } = {},
  ): AnyComponentDeclaration => ({
    kind,
    name,
    description: `fake ${kind}`,
    options,
    ...(extra.needs ? { needs: extra.needs } : {}),
    async create(parsed: O, context: ComponentContext) {
      const label = kind === 'dataset' ? `${name}:${(parsed as { label: string }).label}` : name;
      events.push(`create ${label}`);
      contexts.set(label, context);
      seen.set(label, parsed);
      const value = make(parsed, context) as { dispose?(): unknown };
      const inner = value.dispose?.bind(value);
      return {
        ...value,
        provenance: context.provenance,
        dispose: async () => {
          events.push(`dispose ${label}`);
          await inner?.();
          if (extra.disposeError) throw new Error(extra.disposeError);
        },
      } as never;
    },
  });
  const none = s.object({});
  return {
    meta: { name: 'fake-plugin', version: '1.2.3', apiVersion: 1 },
    components: [
      declare(
        'subject-model',
        'fake-subject',
        s.object({ layers: s.integer({ min: 1 }).default(2) }),
        (o: { layers: number }) => fakeSubjectModel({ layers: o.layers }),
      ),
      declare('activation-source', 'fake-activation', none, (_o, c) => fakeActivationSource(c.subject!), {
        needs: ['subject-model'],
      }),
      declare(
        'dataset',
        'fake-dataset',
        s.object({ label: s.string().default('x'), docs: s.integer({ min: 1 }).default(2) }),
        (o: { label: string; docs: number }) =>
          fakeDataset(
            Array.from({ length: o.docs }, (_, i) => ({ id: `${o.label}-${i}`, text: `document ${i}` })),
            o.label,
          ),
      ),
      declare(
        'dataset',
        'subject-dataset',
        s.object({ label: s.string().default('tokenized') }),
        (o: { label: string }, c) =>
          fakeDataset([{ id: 'vocab', text: `vocabulary of ${c.subject?.tokenizer.vocabSize}` }], o.label),
        { needs: ['subject-model'] },
      ),
      declare(
        'describer',
        'fake-describer',
        s.object({ temperature: s.number({ min: 0 }).default(0), style: s.enum(['short', 'long']).default('short') }),
        () => fakeDescriber(() => ['a description']),
        { needs: ['subject-model'] },
      ),
      declare('describer', 'grumpy-describer', none, () => fakeDescriber(() => ['x']), {
        needs: ['subject-model'],
        disposeError: 'describer would not let go',
      }),
      declare('simulator', 'fake-simulator', none, () => fakeSimulator((_d, tokens) => tokens.map(() => 0)), {
        needs: ['subject-model'],
      }),
      declare('scorer', 'fake-scorer', none, () => ({ score: () => ({ value: null, stats: {} }) })),
      declare('scorer', 'grumpy-scorer', none, () => ({ score: () => ({ value: null, stats: {} }) }), {
        disposeError: 'scorer would not let go',
      }),
      {
        kind: 'scorer',
        name: 'failing-scorer',
        description: 'throws',
        options: none,
        create: async () => {
          events.push('create failing-scorer');
          throw new Error('boom');
        },
      },
      {
        kind: 'simulator',
        name: 'stamped-simulator',
        description: 'throws a stamped error',
        options: none,
        create: async () => {
          throw new ExpgenError('plugin "fake-plugin" says: the simulator model is missing, run "fetch"');
        },
      },
    ],
  };
}

const FAKE_SECTIONS = [
  'subject.component=fake-subject',
  'activation.component=fake-activation',
  'datasets=[{component: fake-dataset, options: {label: first}}, {component: fake-dataset, name: second, options: {label: second, docs: 3}}]',
  'describer.component=fake-describer',
  'simulator.component=fake-simulator',
  'scorer.component=fake-scorer',
  'cacheDir=run-cache',
];

async function compose(
  needs: ComposeOptions['needs'],
  sets: readonly string[] = [],
  extra: Partial<ComposeOptions> & { configFile?: string } = {},
) {
  const journal: Journal = { events: [], contexts: new Map(), options: new Map() };
  const logger = memoryLogger();
  const loaded = await loadConfig({
    search: false,
    sets: [...FAKE_SECTIONS, ...sets],
    ...(extra.configFile ? { configFile: extra.configFile } : {}),
  });
  const registry = PluginRegistry.of([fakePlugin(journal)]);
  const promise = composeRun({ loaded, registry, needs, logger, ...(extra.signal ? { signal: extra.signal } : {}) });
  return { journal, logger, loaded, promise };
}

async function rejectsWith(
  promise: Promise<unknown>,
  check: (message: string, error: ExpgenError) => void,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isExpgenError(error), `an ExpgenError, got ${String(error)}`);
    assert.ok(!error.message.includes('\n'), `one line: ${error.message}`);
    check(error.message, error);
    return true;
  });
}

describe('composeRun: what it creates', () => {
  it('creates only what needs asks for', async () => {
    const { journal, promise } = await compose(['scorer']);
    const run = await promise;
    assert.deepEqual(journal.events, ['create fake-scorer']);
    assert.deepEqual(
      Object.entries(run.components)
        .filter(([, v]) => v !== undefined)
        .map(([k]) => k),
      ['scorer'],
    );
    assert.deepEqual(
      run.provenance.map((p) => p.kind),
      ['scorer'],
    );
    await run.dispose();
  });

  it('does not resolve sections it does not need, so they may name components that are not installed', async () => {
    const { promise } = await compose(['scorer'], ['describer.component=not-installed']);
    await (await promise).dispose();
  });

  it('adds the subject model for components that declare needs: [subject-model], and passes it to them', async () => {
    const { journal, logger, promise } = await compose(['describer']);
    const run = await promise;
    assert.deepEqual(journal.events, ['create fake-subject', 'create fake-describer']);
    assert.ok(run.components.subject);
    assert.equal(journal.contexts.get('fake-describer')?.subject, run.components.subject);
    assert.equal(journal.contexts.get('fake-subject')?.subject, undefined, 'the subject does not get itself');
    assert.ok(logger.lines.includes('subject: fake, 2 layers, execution provider host'));
    await run.dispose();
  });

  it('creates every kind in dependency order, datasets in config order', async () => {
    const { journal, promise } = await compose([
      'scorer',
      'simulator',
      'describer',
      'dataset',
      'activation-source',
      'subject-model',
    ]);
    const run = await promise;
    assert.deepEqual(journal.events, [
      'create fake-subject',
      'create fake-activation',
      'create fake-dataset:first',
      'create fake-dataset:second',
      'create fake-describer',
      'create fake-simulator',
      'create fake-scorer',
    ]);
    const { components } = run;
    assert.equal(components.activation?.space, 'mlp');
    assert.deepEqual(
      components.datasets?.map((d) => d.name),
      ['first', 'second'],
    );
    assert.equal(journal.contexts.get('fake-activation')?.subject, components.subject);
    assert.equal(journal.contexts.get('fake-simulator')?.subject, components.subject);
    assert.deepEqual(
      run.provenance.map((p) => `${p.kind}/${p.component}`),
      [
        'subject-model/fake-subject',
        'activation-source/fake-activation',
        'dataset/fake-dataset',
        'dataset/fake-dataset',
        'describer/fake-describer',
        'simulator/fake-simulator',
        'scorer/fake-scorer',
      ],
    );
    await run.dispose();
  });

  it('passes each factory its parsed options, defaults filled', async () => {
    const { journal, promise } = await compose(['dataset', 'describer'], ['describer.options.style=long']);
    const run = await promise;
    assert.deepEqual(journal.options.get('fake-dataset:first'), { label: 'first', docs: 2 });
    assert.deepEqual(journal.options.get('fake-dataset:second'), { label: 'second', docs: 3 });
    assert.deepEqual(journal.options.get('fake-describer'), { temperature: 0, style: 'long' });
    assert.deepEqual(journal.options.get('fake-subject'), { layers: 2 });
    await run.dispose();
  });

  it('gives every component a context naming it, its plugin and the plugin version', async () => {
    const controller = new AbortController();
    const { journal, loaded, promise } = await compose(['dataset', 'describer', 'scorer'], [], {
      signal: controller.signal,
    });
    const run = await promise;
    for (const [label, kind, component] of [
      ['fake-subject', 'subject-model', 'fake-subject'],
      ['fake-dataset:first', 'dataset', 'fake-dataset'],
      ['fake-describer', 'describer', 'fake-describer'],
      ['fake-scorer', 'scorer', 'fake-scorer'],
    ] as const) {
      const context = journal.contexts.get(label)!;
      assert.deepEqual(context.provenance, { kind, component, plugin: 'fake-plugin', pluginVersion: '1.2.3' }, label);
      assert.equal(context.cacheDir, resolve('run-cache'), 'a --set cacheDir resolves against the current folder');
      assert.equal(context.signal, controller.signal);
      assert.ok(context.logger);
    }
    assert.equal(run.cacheDir, resolve('run-cache'));
    assert.equal(journal.contexts.get('fake-describer')!.baseDir, loaded.baseDirOf(['describer', 'options']));
    assert.deepEqual(
      run.provenance.find((p) => p.kind === 'describer'),
      { kind: 'describer', component: 'fake-describer', plugin: 'fake-plugin', pluginVersion: '1.2.3' },
    );
    await run.dispose();
  });

  it("resolves baseDir against the file that set the section's options", async () => {
    const file = join(tmp, 'base-dir.yaml');
    writeFileSync(file, 'describer:\n  component: fake-describer\n  options:\n    temperature: 0.5\n');
    const { journal, promise } = await compose(['describer'], [], { configFile: file });
    const run = await promise;
    assert.equal(journal.contexts.get('fake-describer')!.baseDir, tmp);
    assert.deepEqual(journal.options.get('fake-describer'), { temperature: 0.5, style: 'short' });
    await run.dispose();
  });

  it('gives the subject to a dataset that declares needs: [subject-model]', async () => {
    const { journal, promise } = await compose(['dataset'], ['datasets=[{component: subject-dataset}]']);
    const run = await promise;
    assert.deepEqual(journal.events, ['create fake-subject', 'create subject-dataset:tokenized']);
    assert.equal(journal.contexts.get('subject-dataset:tokenized')?.subject, run.components.subject);
    await run.dispose();
  });
});

describe('composeRun: disposal', () => {
  it('disposes in reverse creation order, once', async () => {
    const { journal, promise } = await compose(['scorer', 'simulator', 'describer', 'dataset', 'activation-source']);
    const run = await promise;
    journal.events.length = 0;
    await run.dispose();
    assert.deepEqual(journal.events, [
      'dispose fake-scorer',
      'dispose fake-simulator',
      'dispose fake-describer',
      'dispose fake-dataset:second',
      'dispose fake-dataset:first',
      'dispose fake-activation',
      'dispose fake-subject',
    ]);
    await run.dispose();
    assert.equal(journal.events.length, 7, 'a second dispose releases nothing again');
    await assert.rejects(
      run.components.subject!.forward({ tokens: Int32Array.of(1), batch: 1, seqLen: 1, hooks: [] }),
      /disposed/,
      'the subject really was released',
    );
  });

  it('still disposes everything when some dispose calls throw, and warns about them', async () => {
    const { journal, logger, promise } = await compose(
      ['describer', 'scorer'],
      ['describer.component=grumpy-describer', 'scorer.component=grumpy-scorer'],
    );
    const run = await promise;
    await run.dispose();
    assert.deepEqual(
      journal.events.filter((e) => e.startsWith('dispose')),
      ['dispose grumpy-scorer', 'dispose grumpy-describer', 'dispose fake-subject'],
    );
    const warning = logger.lines.find((l) => l.startsWith('warning: '));
    assert.equal(warning, 'warning: releasing components: scorer would not let go; describer would not let go');
  });

  it('disposes what was already created when a later factory throws, and names the plugin in the error', async () => {
    const { journal, promise } = await compose(['dataset', 'describer', 'scorer'], ['scorer.component=failing-scorer']);
    await rejectsWith(promise, (message, error) => {
      assert.equal(message, 'plugin "fake-plugin" failed in creating scorer "failing-scorer": boom');
      assert.equal((error.cause as Error).message, 'boom', 'the original error is kept as the cause');
    });
    assert.deepEqual(journal.events, [
      'create fake-subject',
      'create fake-dataset:first',
      'create fake-dataset:second',
      'create fake-describer',
      'create failing-scorer',
      'dispose fake-describer',
      'dispose fake-dataset:second',
      'dispose fake-dataset:first',
      'dispose fake-subject',
    ]);
  });

  it('keeps an error the plugin already stamped with its name', async () => {
    const { promise } = await compose(['simulator'], ['simulator.component=stamped-simulator']);
    await rejectsWith(promise, (message) =>
      assert.equal(message, 'plugin "fake-plugin" says: the simulator model is missing, run "fetch"'),
    );
  });

  it('reports the first error even when disposing after it throws too', async () => {
    const { journal, logger, promise } = await compose(
      ['describer', 'scorer'],
      ['describer.component=grumpy-describer', 'scorer.component=failing-scorer'],
    );
    await rejectsWith(promise, (message) => assert.match(message, /failed in creating scorer "failing-scorer": boom$/));
    assert.deepEqual(
      journal.events.filter((e) => e.startsWith('dispose')),
      ['dispose grumpy-describer', 'dispose fake-subject'],
    );
    assert.ok(logger.lines.includes('warning: releasing components: describer would not let go'));
  });
});

describe('composeRun: configuration errors', () => {
  it('reports a plugin option of the wrong type naming the file, the key path and the plugin', async () => {
    const file = join(tmp, 'bad-options.yaml');
    writeFileSync(file, 'describer:\n  component: fake-describer\n  options:\n    temperature: -1\n');
    const { journal, promise } = await compose(['describer'], [], { configFile: file });
    await rejectsWith(promise, (message) =>
      assert.equal(
        message,
        `${file}: describer.options.temperature: expected a number >= 0, found number -1 (options of the describer "fake-describer" from plugin "fake-plugin")`,
      ),
    );
    assert.deepEqual(journal.events, [], 'options are validated before anything is created');
  });

  it('reports an unknown plugin option from --set with a suggestion', async () => {
    const { promise } = await compose(['describer'], ['describer.options.temprature=1']);
    await rejectsWith(promise, (message) => {
      assert.ok(
        message.startsWith('--set: describer.options.temprature: unknown key (did you mean "temperature"?)'),
        message,
      );
      assert.ok(message.endsWith('(options of the describer "fake-describer" from plugin "fake-plugin")'), message);
    });
  });

  it('reports a bad option inside a dataset list with its index, before creating anything', async () => {
    const file = join(tmp, 'bad-dataset.yaml');
    writeFileSync(
      file,
      'subject:\n  component: fake-subject\ndatasets:\n  - component: fake-dataset\n  - component: fake-dataset\n    options: { docs: 0 }\n',
    );
    const journal: Journal = { events: [], contexts: new Map(), options: new Map() };
    const loaded = await loadConfig({ search: false, configFile: file });
    const registry = PluginRegistry.of([fakePlugin(journal)]);
    await rejectsWith(
      composeRun({ loaded, registry, needs: ['dataset', 'subject-model'], logger: memoryLogger() }),
      (message) =>
        assert.equal(
          message,
          `${file}: datasets[1].options.docs: expected an integer >= 1, found number 0 (options of the dataset "fake-dataset" from plugin "fake-plugin")`,
        ),
    );
    assert.deepEqual(journal.events, []);
  });

  it('reports an unknown component naming where it was set and what is available', async () => {
    const { promise } = await compose(['describer'], ['describer.component=fake-describr']);
    await rejectsWith(promise, (message) =>
      assert.equal(
        message,
        '--set: describer.component: expected a describer component (fake-describer, grumpy-describer), found "fake-describr" (did you mean "fake-describer"?)',
      ),
    );
    const dataset = await compose(['dataset'], ['datasets[1].component=fake-datset']);
    await rejectsWith(dataset.promise, (message) =>
      assert.ok(
        message.startsWith(
          '--set: datasets[1].component: expected a dataset component (fake-dataset, subject-dataset), found "fake-datset"',
        ),
        message,
      ),
    );
  });
});
