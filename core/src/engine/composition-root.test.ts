import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { memoryLogger } from '@expgen/contract/testing';
import { loadConfig } from '../config/load-config.js';
import { PluginRegistry } from '../plugins/plugin-registry.js';
import { compose, created, FAKE_SECTIONS, fakePlugin, newJournal } from './composition-fixtures.test-util.js';
import { createRunContainer, tokens } from './composition-root.js';
import { resolveConfig } from './resolved-config.js';
import type { ScoreStage } from './run-stages.js';

const tmp = mkdtempSync(join(tmpdir(), 'expgen-compose-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('composeRun: what the container creates', () => {
  it('creates only what needs asks for', async () => {
    const { journal, promise } = await compose({ needs: ['scorer'] });
    const run = await promise;
    assert.deepEqual(created(journal), ['fake-scorer']);
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

  it("parses each section's options once, when the config is resolved, and hands the parsed form to create", async () => {
    const { journal, config, promise } = await compose({ needs: ['dataset', 'describer', 'scorer'] }, [
      'describer.options.style=long',
    ]);
    const run = await promise;
    assert.deepEqual(
      Object.fromEntries(journal.parses),
      {
        'fake-subject': 1,
        'fake-activation': 1,
        'fake-dataset': 2,
        'fake-describer': 1,
        'fake-simulator': 1,
        'fake-scorer': 1,
      },
      'one parse per section (two datasets), none by the composition root',
    );
    assert.deepEqual(journal.options.get('fake-dataset:first'), { label: 'first', docs: 2 });
    assert.deepEqual(journal.options.get('fake-dataset:second'), { label: 'second', docs: 3 });
    assert.deepEqual(journal.options.get('fake-describer'), { temperature: 0, style: 'long' });
    assert.deepEqual(journal.options.get('fake-subject'), { layers: 2 });
    assert.equal(journal.options.get('fake-describer'), config.config.describer.options, 'the one parsed copy');
    assert.equal(run.config, config);
    await run.dispose();
  });

  it('creates the subject first for components whose needs name it, and gives it to them', async () => {
    const { journal, logger, promise } = await compose({ needs: ['describer'] });
    const run = await promise;
    assert.deepEqual(created(journal), ['fake-subject', 'fake-describer']);
    assert.ok(run.components.subject, 'a need that was created is part of the run');
    assert.equal(journal.contexts.get('fake-describer')?.subject, run.components.subject, 'the same subject');
    assert.equal(journal.contexts.get('fake-subject')?.subject, undefined, 'the subject does not get itself');
    assert.ok(logger.lines.includes('subject: fake, 2 layers, execution provider host'));
    await run.dispose();
  });

  it('creates each component once per run, whatever asks for it, datasets in config order', async () => {
    const { journal, promise } = await compose({
      needs: ['scorer', 'simulator', 'describer', 'dataset', 'activation-source', 'subject-model'],
    });
    const run = await promise;
    const order = created(journal);
    assert.deepEqual(
      [...order].sort(),
      [
        'fake-activation',
        'fake-dataset:first',
        'fake-dataset:second',
        'fake-describer',
        'fake-scorer',
        'fake-simulator',
        'fake-subject',
      ],
      'four components need the subject: it is still created once',
    );
    for (const dependent of ['fake-activation', 'fake-describer', 'fake-simulator'])
      assert.ok(order.indexOf('fake-subject') < order.indexOf(dependent), `the subject before ${dependent}`);
    const { components } = run;
    assert.equal(components.activation?.space, 'mlp');
    assert.deepEqual(
      components.datasets?.map((d) => d.name),
      ['first', 'second'],
    );
    assert.deepEqual(
      run.provenance.map((p) => `${p.kind}/${p.component}`),
      order.map((label) => {
        const name = label.split(':')[0]!;
        const kind = journal.contexts.get(label)!.provenance.kind;
        return `${kind}/${name}`;
      }),
      'provenance in creation order',
    );
    await run.dispose();
  });

  it('gives every component a context naming it, with the run services', async () => {
    const controller = new AbortController();
    const { journal, config, promise } = await compose({
      needs: ['dataset', 'describer', 'scorer'],
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
      assert.equal(context.fetch, globalThis.fetch, 'the default fetch is the global one');
      assert.equal(typeof context.callCache, 'function');
      assert.ok(context.logger);
    }
    assert.equal(run.cacheDir, resolve('run-cache'));
    assert.equal(journal.contexts.get('fake-describer')!.baseDir, config.baseDirOf(['describer', 'options']));
    await run.dispose();
  });

  it("resolves baseDir against the file that set the section's options", async () => {
    const file = join(tmp, 'base-dir.yaml');
    writeFileSync(file, 'describer:\n  component: fake-describer\n  options:\n    temperature: 0.5\n');
    const { journal, promise } = await compose({ needs: ['describer'] }, [], { configFile: file });
    const run = await promise;
    assert.equal(journal.contexts.get('fake-describer')!.baseDir, tmp);
    assert.deepEqual(journal.options.get('fake-describer'), { temperature: 0.5, style: 'short' });
    await run.dispose();
  });

  it('gives the subject to a dataset that declares needs: [subject-model]', async () => {
    const { journal, promise } = await compose({ needs: ['dataset'] }, ['datasets=[{component: subject-dataset}]']);
    const run = await promise;
    assert.deepEqual(created(journal), ['fake-subject', 'subject-dataset:tokenized']);
    assert.equal(journal.contexts.get('subject-dataset:tokenized')?.subject?.info.architecture, 'fake');
    await run.dispose();
  });
});

describe('composeRun: stages and services from the container', () => {
  it('a stage brings the components it declares and the pipeline’s own, and nothing else', async () => {
    const { journal, promise } = await compose({ stages: ['describe'] });
    const run = await promise;
    assert.deepEqual([...created(journal)].sort(), ['fake-activation', 'fake-describer', 'fake-subject']);
    assert.ok(run.stages.describe, 'the describe stage, bound');
    assert.equal(run.stages.exemplars, undefined);
    assert.equal(run.stages.score, undefined);
    assert.equal(run.components.datasets, undefined);
    await run.dispose();
  });

  it('stage 1 gets the datasets; stage 3 the simulator and scorer', async () => {
    const { journal, promise } = await compose({ stages: ['exemplars', 'score'] });
    const run = await promise;
    assert.deepEqual([...created(journal)].sort(), [
      'fake-activation',
      'fake-dataset:first',
      'fake-dataset:second',
      'fake-scorer',
      'fake-simulator',
      'fake-subject',
    ]);
    assert.ok(run.stages.exemplars && run.stages.score);
    await run.dispose();
  });

  it('a test swaps a service or a component by registering a fake under its token', async () => {
    const requests: string[] = [];
    const fakeFetch = (async (url: string | URL | Request) => {
      requests.push(String(url));
      return new Response('{}');
    }) as typeof fetch;
    const logger = memoryLogger();
    const { journal, promise } = await compose({
      needs: ['describer', 'scorer'],
      register: (c) => {
        c.register(tokens.fetch, { useValue: fakeFetch });
        c.register(tokens.logger, { useValue: logger });
        c.register(tokens.scorer, {
          useValue: Promise.resolve({
            provenance: { kind: 'scorer', component: 'swapped', plugin: 'test', pluginVersion: '0' },
            score: () => ({
              value: 1,
              stats: {},
              scoredBy: { kind: 'scorer', component: 'swapped', plugin: 'test', pluginVersion: '0' },
            }),
          }),
        });
      },
    });
    const run = await promise;
    const context = journal.contexts.get('fake-describer')!;
    assert.equal(context.fetch, fakeFetch, 'the describer got the fake network');
    await context.fetch!('http://127.0.0.1:1/v1/chat/completions');
    assert.deepEqual(requests, ['http://127.0.0.1:1/v1/chat/completions']);
    assert.equal(context.logger, logger, 'and the fake logger');
    assert.ok(logger.lines.some((l) => l.startsWith('subject: fake')));
    assert.ok(!created(journal).includes('fake-scorer'), 'the configured scorer was never created');
    assert.equal(run.components.scorer, undefined, 'a registered fake is not part of what the run created');
    await run.dispose();
  });

  it('a test swaps a stage: the run hands out the registered one', async () => {
    const fake: ScoreStage = { run: async () => ({ rows: [], summary: {} as never }) };
    const { journal, promise } = await compose({
      stages: ['score'],
      register: (c) => c.register(tokens.scoreStage, { useValue: Promise.resolve(fake) }),
    });
    const run = await promise;
    assert.equal(run.stages.score, fake);
    assert.deepEqual([...created(journal)].sort(), ['fake-activation', 'fake-subject'], 'no simulator or scorer');
    await run.dispose();
  });

  it('the progress display reads the run clock, which a test can stop', async () => {
    const journal = newJournal();
    const loaded = await loadConfig({ search: false, sets: FAKE_SECTIONS });
    const config = resolveConfig(loaded, PluginRegistry.of([fakePlugin(journal)]));
    const scope = createRunContainer({ config, logger: memoryLogger() });
    let now = 1_000_000;
    scope.register(tokens.clock, { useValue: { now: () => now } });
    const written: string[] = [];
    const stream = { isTTY: false, write: (line: string) => written.push(line) } as unknown as NodeJS.WriteStream;
    const progress = scope.resolve(tokens.progress)({ label: 'scoring', total: 10, unit: 'features', stream })!;
    progress.update(0);
    now += 2_000;
    progress.update(4);
    progress.finish();
    assert.match(written.at(-1)!, /^scoring 4\/10 features \(40\.0%\) 2 features\/s, ETA 3s/);
    const quiet = createRunContainer({ config, logger: memoryLogger(), progress: false });
    assert.equal(quiet.resolve(tokens.progress)({ label: 'x', total: 1, unit: 'u' }), undefined, '--json: none');
  });

  it('checks every section before anything is created: a typo anywhere fails first', async () => {
    const journal = newJournal();
    const loaded = await loadConfig({ search: false, sets: [...FAKE_SECTIONS, 'describer.component=not-installed'] });
    assert.throws(
      () => resolveConfig(loaded, PluginRegistry.of([fakePlugin(journal)])),
      /describer\.component: expected a describer component .* found "not-installed"/,
    );
    assert.deepEqual(journal.events, []);
  });
});
