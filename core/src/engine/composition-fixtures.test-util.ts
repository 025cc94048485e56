// Test support for the composition root: a plugin of fake components that record what the container did with them.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import {
  ExpgenError,
  isExpgenError,
  type AnyComponentDeclaration,
  type ComponentContext,
  type ComponentKind,
  type ExpgenPlugin,
  s,
} from '@expgen/contract';
import {
  fakeActivationSource,
  fakeDataset,
  fakeDescriber,
  fakeSimulator,
  fakeSubjectModel,
  memoryLogger,
} from '@expgen/contract/testing';
import { loadConfig } from '../config/load-config.js';
import { PluginRegistry } from '../plugins/plugin-registry.js';
import { composeRun, type ComposeOptions } from './composition-root.js';
import { resolveConfig } from './resolved-config.js';

/** What the fake components saw and did, in order. */
export interface Journal {
  readonly events: string[];
  readonly contexts: Map<string, ComponentContext>;
  readonly options: Map<string, unknown>;
  /** How many times each component's options were parsed. */
  readonly parses: Map<string, number>;
}

export function newJournal(): Journal {
  return { events: [], contexts: new Map(), options: new Map(), parses: new Map() };
}

export function fakePlugin(journal: Journal): ExpgenPlugin {
  const { events, contexts, options: seen, parses } = journal;
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
    // The schema itself, counting its parses.
    options: Object.assign(Object.create(options) as AnyComponentDeclaration['options'], {
      parse: (value: unknown, path?: readonly (string | number)[]) => {
        parses.set(name, (parses.get(name) ?? 0) + 1);
        return options.parse(value, path);
      },
    }),
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
      declare('dataset', 'broken-dataset', none, () => ({
        name: 'broken',
        async *documents() {
          yield { id: 'first', text: 'fine' };
          throw new Error('the file ends in the middle of a record');
        },
      })),
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
      declare('describer', 'throwing-describer', none, () => ({
        describe: async () => {
          throw new Error('the explainer answered 503');
        },
      })),
      declare('simulator', 'fake-simulator', none, () => fakeSimulator((_d, tokens) => tokens.map(() => 0)), {
        needs: ['subject-model'],
      }),
      declare('scorer', 'fake-scorer', none, () => ({ score: () => ({ value: null, stats: {} }) })),
      declare('scorer', 'fake-judge', s.object({ level: s.integer({ min: 0 }).default(1) }), () => ({
        method: 'judge',
        judge: async () => ({ judgments: [], failures: [], stats: {} }),
        valueOfJudgments: () => null,
      })),
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
        name: 'refusing-simulator',
        description: 'throws an error the user can act on',
        options: none,
        create: async () => {
          throw new ExpgenError('the simulator model is missing: run "fetch"', { exitCode: 4 });
        },
      },
    ],
  };
}

export const FAKE_SECTIONS = [
  'subject.component=fake-subject',
  'activation.component=fake-activation',
  'datasets=[{component: fake-dataset, options: {label: first}}, {component: fake-dataset, name: second, options: {label: second, docs: 3}}]',
  'describer.component=fake-describer',
  'simulator.component=fake-simulator',
  'scorer.component=fake-scorer',
  'cacheDir=run-cache',
];

/** Loads the fake sections (plus `sets`), resolves them against the fake plugin, and starts composing. */
export async function compose(
  what: Pick<ComposeOptions, 'needs' | 'stages' | 'register' | 'signal'>,
  sets: readonly string[] = [],
  extra: { configFile?: string } = {},
) {
  const journal = newJournal();
  const logger = memoryLogger();
  const loaded = await loadConfig({
    search: false,
    sets: [...FAKE_SECTIONS, ...sets],
    ...(extra.configFile ? { configFile: extra.configFile } : {}),
  });
  const config = resolveConfig(loaded, PluginRegistry.of([fakePlugin(journal)]));
  const promise = composeRun({ config, logger, progress: false, ...what });
  return { journal, logger, config, promise };
}

/** Asserts that `promise` rejects with a one-line ExpgenError, and runs `check` on it. */
export async function rejectsWith(
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

/** The create events in the order they happened, e.g. ['fake-subject', 'fake-describer']. */
export function created(journal: Journal): string[] {
  return journal.events.filter((e) => e.startsWith('create ')).map((e) => e.slice('create '.length));
}
