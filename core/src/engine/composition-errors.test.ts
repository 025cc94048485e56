import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { loadConfig } from '../config/load-config.js';
import { PluginRegistry } from '../plugins/plugin-registry.js';
import { compose, created, fakePlugin, newJournal, rejectsWith } from './composition-fixtures.test-util.js';
import { PluginCallError } from './plugin-calls.js';
import { resolveConfig } from './resolved-config.js';

const tmp = mkdtempSync(join(tmpdir(), 'expgen-compose-errors-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const disposals = (events: readonly string[]) =>
  events.filter((e) => e.startsWith('dispose ')).map((e) => e.slice('dispose '.length));

describe('composeRun: disposal follows the run scope', () => {
  it('disposes in reverse creation order, once', async () => {
    const { journal, promise } = await compose({
      needs: ['scorer', 'simulator', 'describer', 'dataset', 'activation-source'],
    });
    const run = await promise;
    const order = created(journal);
    await run.dispose();
    assert.deepEqual(disposals(journal.events), [...order].reverse());
    const released = disposals(journal.events);
    for (const dependent of ['fake-activation', 'fake-describer', 'fake-simulator'])
      assert.ok(released.indexOf(dependent) < released.indexOf('fake-subject'), `${dependent} before the subject`);
    await run.dispose();
    assert.equal(disposals(journal.events).length, 7, 'a second dispose releases nothing again');
    await assert.rejects(
      run.components.subject!.forward({ tokens: Int32Array.of(1), batch: 1, seqLen: 1, hooks: [] }),
      /disposed/,
      'the subject really was released',
    );
  });

  it('still disposes everything when some dispose calls throw, and warns naming each component', async () => {
    const { journal, logger, promise } = await compose({ needs: ['describer', 'scorer'] }, [
      'describer.component=grumpy-describer',
      'scorer.component=grumpy-scorer',
    ]);
    const run = await promise;
    await run.dispose();
    assert.deepEqual(disposals(journal.events).sort(), ['fake-subject', 'grumpy-describer', 'grumpy-scorer']);
    const warning = logger.lines.find((l) => l.startsWith('warning: '))!;
    assert.ok(warning.startsWith('warning: releasing components: '), warning);
    assert.ok(warning.includes('scorer grumpy-scorer (fake-plugin) dispose: scorer would not let go'), warning);
    assert.ok(
      warning.includes('describer grumpy-describer (fake-plugin) dispose: describer would not let go'),
      warning,
    );
  });

  it('disposes what was created when a factory throws, after the others settle, and names the plugin', async () => {
    const { journal, promise } = await compose({ needs: ['dataset', 'describer', 'scorer'] }, [
      'scorer.component=failing-scorer',
    ]);
    await rejectsWith(promise, (message, error) => {
      assert.equal(message, 'scorer failing-scorer (fake-plugin) create: boom');
      assert.equal(error.exitCode, 2);
      assert.equal((error.cause as Error).message, 'boom', 'the original error is kept as the cause');
    });
    const made = created(journal).filter((c) => c !== 'failing-scorer');
    assert.deepEqual(
      [...made].sort(),
      ['fake-dataset:first', 'fake-dataset:second', 'fake-describer', 'fake-subject'],
      'everything else was still created',
    );
    assert.deepEqual(disposals(journal.events), [...made].reverse(), 'and released, in reverse');
  });

  it("stamps an ExpgenError from a factory and keeps the plugin's exit code", async () => {
    const { promise } = await compose({ needs: ['simulator'] }, ['simulator.component=refusing-simulator']);
    await rejectsWith(promise, (message, error) => {
      assert.equal(
        message,
        'simulator refusing-simulator (fake-plugin) create: the simulator model is missing: run "fetch"',
      );
      assert.equal(error.exitCode, 4);
    });
  });

  it('reports the first error even when disposing after it throws too', async () => {
    const { logger, promise } = await compose({ needs: ['describer', 'scorer'] }, [
      'describer.component=grumpy-describer',
      'scorer.component=failing-scorer',
    ]);
    await rejectsWith(promise, (message) => assert.equal(message, 'scorer failing-scorer (fake-plugin) create: boom'));
    assert.ok(
      logger.lines.includes(
        'warning: releasing components: describer grumpy-describer (fake-plugin) dispose: describer would not let go',
      ),
      logger.lines.join('\n'),
    );
  });
});

describe('composeRun: every plugin call is stamped', () => {
  it('an error thrown by describe names the describer, its plugin and the method', async () => {
    const { promise } = await compose({ needs: ['describer'] }, ['describer.component=throwing-describer']);
    const run = await promise;
    await assert.rejects(run.components.describer!.describe({} as never), (error: unknown) => {
      assert.ok(error instanceof PluginCallError);
      assert.equal(error.message, 'describer throwing-describer (fake-plugin) describe: the explainer answered 503');
      return true;
    });
    await run.dispose();
  });

  it("an error from a dataset's document stream names the dataset component and documents()", async () => {
    const { promise } = await compose({ needs: ['dataset'] }, ['datasets=[{component: broken-dataset}]']);
    const run = await promise;
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const doc of run.components.datasets![0]!.documents()) seen.push(doc.id);
      })(),
      /^PluginCallError: dataset broken-dataset \(fake-plugin\) documents: the file ends in the middle of a record$/,
    );
    assert.deepEqual(seen, ['first'], 'documents before the error arrive as they are');
    await run.dispose();
  });
});

describe('composeRun: configuration errors', () => {
  it('reports a plugin option of the wrong type naming the file, the key path and the plugin', async () => {
    const file = join(tmp, 'bad-options.yaml');
    writeFileSync(file, 'describer:\n  component: fake-describer\n  options:\n    temperature: -1\n');
    await assert.rejects(compose({ needs: ['describer'] }, [], { configFile: file }), (error: unknown) => {
      assert.ok(isExpgenError(error));
      assert.equal(
        error.message,
        `${file}: describer.options.temperature: expected a number >= 0, found number -1 (options of the describer "fake-describer" from plugin "fake-plugin")`,
      );
      return true;
    });
  });

  it('reports an unknown plugin option from --set with a suggestion', async () => {
    await assert.rejects(compose({ needs: ['describer'] }, ['describer.options.temprature=1']), (error: Error) => {
      assert.ok(
        error.message.startsWith('--set: describer.options.temprature: unknown key (did you mean "temperature"?)'),
        error.message,
      );
      assert.ok(error.message.endsWith('(options of the describer "fake-describer" from plugin "fake-plugin")'));
      return true;
    });
  });

  it('reports a bad option inside a dataset list with its index, before creating anything', async () => {
    const file = join(tmp, 'bad-dataset.yaml');
    writeFileSync(
      file,
      [
        'subject: { component: fake-subject }',
        'activation: { component: fake-activation }',
        'describer: { component: fake-describer }',
        'simulator: { component: fake-simulator }',
        'scorer: { component: fake-scorer }',
        'datasets:',
        '  - component: fake-dataset',
        '  - component: fake-dataset',
        '    options: { docs: 0 }',
        '',
      ].join('\n'),
    );
    const journal = newJournal();
    const loaded = await loadConfig({ search: false, configFile: file });
    assert.throws(
      () => resolveConfig(loaded, PluginRegistry.of([fakePlugin(journal)])),
      (error: Error) =>
        error.message ===
        `${file}: datasets[1].options.docs: expected an integer >= 1, found number 0 (options of the dataset "fake-dataset" from plugin "fake-plugin")`,
    );
    assert.deepEqual(journal.events, []);
  });

  it('reports an unknown component naming where it was set and what is available', async () => {
    await assert.rejects(compose({ needs: ['describer'] }, ['describer.component=fake-describr']), (error: Error) => {
      assert.equal(
        error.message,
        '--set: describer.component: expected a describer component (fake-describer, grumpy-describer, throwing-describer), found "fake-describr" (did you mean "fake-describer"?)',
      );
      return true;
    });
    await assert.rejects(compose({ needs: ['dataset'] }, ['datasets[1].component=fake-datset']), (error: Error) => {
      assert.ok(
        error.message.startsWith(
          '--set: datasets[1].component: expected a dataset component (fake-dataset, subject-dataset, broken-dataset), found "fake-datset"',
        ),
        error.message,
      );
      return true;
    });
  });
});
