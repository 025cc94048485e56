import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  isExpgenError,
  type AnyComponentDeclaration,
  type ExpgenPlugin,
  type ComponentKind,
  s,
} from '@expgen/contract';
import { describePlugins } from './describe-plugins.js';
import { discoverPlugins } from './discover-plugins.js';
import { loadPluginFrom } from './load-plugin.js';
import { PluginRegistry } from './plugin-registry.js';
import { createPluginFixture } from './plugin-fixtures.test-util.js';

function component(kind: ComponentKind, name: string): AnyComponentDeclaration {
  return {
    kind,
    name,
    description: `${kind} ${name}`,
    options: s.object({}),
    create: async (_o, context) => ({ provenance: context.provenance }) as never,
  };
}

function plugin(name: string, components: AnyComponentDeclaration[], version = '1.0.0'): ExpgenPlugin {
  return { meta: { name, version, apiVersion: 1 }, components };
}

/** Asserts `run` throws an ExpgenError with a one-line message holding every part. */
function throwsNaming(run: () => unknown, parts: readonly string[]): string {
  let message = '';
  assert.throws(run, (error: unknown) => {
    assert.ok(isExpgenError(error), `an ExpgenError, got ${String(error)}`);
    message = error.message;
    assert.ok(!message.includes('\n'), `one line: ${message}`);
    for (const part of parts) assert.ok(message.includes(part), `"${part}" in: ${message}`);
    return true;
  });
  return message;
}

describe('PluginRegistry (in memory)', () => {
  const one = plugin('plugin-one', [
    component('describer', 'alpha'),
    component('describer', 'shared'),
    component('scorer', 'correlation'),
  ]);
  const two = plugin('plugin-two', [component('describer', 'shared'), component('simulator', 'beta')], '2.0.0');
  const registry = PluginRegistry.of([one, two]);

  it('of() registers plugin objects as they are', () => {
    assert.equal(registry.plugins.length, 2);
    assert.equal(registry.plugins[0]!.plugin, one);
    assert.deepEqual(registry.plugins[1]!.candidate, {
      name: 'plugin-two',
      location: '(in memory)',
      origin: 'config',
      hasCommands: false,
    });
    assert.deepEqual(registry.broken, []);
  });

  it('lists components, all or of one kind', () => {
    assert.deepEqual(
      registry.components().map((c) => `${c.plugin.meta.name}:${c.declaration.kind}/${c.declaration.name}`),
      [
        'plugin-one:describer/alpha',
        'plugin-one:describer/shared',
        'plugin-one:scorer/correlation',
        'plugin-two:describer/shared',
        'plugin-two:simulator/beta',
      ],
    );
    assert.deepEqual(
      registry.components('describer').map((c) => c.declaration.name),
      ['alpha', 'shared', 'shared'],
    );
    assert.deepEqual(registry.components('dataset'), []);
  });

  it('finds a component by kind and name', () => {
    const found = registry.find('describer', 'alpha', undefined, 'config.yaml: describer.component');
    assert.equal(found.plugin, one);
    assert.equal(found.declaration.name, 'alpha');
    assert.equal(registry.find('simulator', 'beta', undefined, 'w').plugin, two);
  });

  it('asks for the plugin key when several plugins provide the name, and uses it', () => {
    throwsNaming(
      () => registry.find('describer', 'shared', undefined, 'config.yaml: describer.component'),
      [
        'config.yaml: describer.component: the describer "shared" is provided by several plugins (plugin-one, plugin-two)',
        'set the section\'s "plugin" key to one of them',
      ],
    );
    assert.equal(registry.find('describer', 'shared', 'plugin-two', 'w').plugin, two);
    assert.equal(registry.find('describer', 'shared', 'plugin-one', 'w').plugin, one);
  });

  it('lists what is available and suggests a near name', () => {
    const message = throwsNaming(
      () => registry.find('describer', 'alpah', undefined, 'config.yaml: describer.component'),
      [],
    );
    assert.equal(
      message,
      'config.yaml: describer.component: expected a describer component (alpha, shared), found "alpah" (did you mean "alpha"?)',
    );
    const far = throwsNaming(() => registry.find('scorer', 'spearman', undefined, 'w'), []);
    assert.equal(far, 'w: expected a scorer component (correlation), found "spearman"');
  });

  it('does not match a name of another kind', () => {
    throwsNaming(
      () => registry.find('scorer', 'beta', undefined, 'w'),
      ['expected a scorer component (correlation), found "beta"'],
    );
  });

  it('says when no component of a kind is installed', () => {
    throwsNaming(
      () => registry.find('dataset', 'jsonl', undefined, 'w: datasets[0].component'),
      ['w: datasets[0].component: expected a dataset component (none installed), found "jsonl"'],
    );
  });

  it('says when the named plugin is not installed', () => {
    throwsNaming(
      () => registry.find('describer', 'alpha', 'plugin-three', 'w'),
      ['w: no plugin named "plugin-three" is installed', 'plugins.paths'],
    );
  });

  it('a plugin key that provides no such component is reported as an unknown component', () => {
    throwsNaming(
      () => registry.find('describer', 'alpha', 'plugin-two', 'w'),
      ['w: expected a describer component (alpha, shared), found "alpha"'],
    );
  });

  it('mentions plugins that failed to load', () => {
    const withBroken = new PluginRegistry(registry.plugins, [
      {
        candidate: { name: 'expgen-plugin-x', location: '/x', origin: 'node_modules', hasCommands: false },
        error: 'plugin "expgen-plugin-x" could not be imported',
      },
    ]);
    throwsNaming(
      () => withBroken.find('describer', 'x-describer', undefined, 'w'),
      ['found "x-describer"', 'plugins that failed to load: expgen-plugin-x (see "expgen plugins")'],
    );
    throwsNaming(
      () => withBroken.find('describer', 'x', 'expgen-plugin-x', 'w'),
      ['no plugin named "expgen-plugin-x" is installed', 'plugins that failed to load: expgen-plugin-x'],
    );
  });
});

// Discovery loads the built-in plugins too, and a built-in that does not load is fatal by design. When one does
// not load in this checkout (e.g. it is being rebuilt), the discovery tests are skipped with the reason.
const probeDir = mkdtempSync(join(tmpdir(), 'expgen-registry-probe-'));
const builtinFailures = (
  await Promise.all(
    discoverPlugins({ cwd: probeDir })
      .filter((c) => c.origin === 'builtin')
      .map((c) =>
        loadPluginFrom(c).then(
          () => null,
          (e: Error) => e.message,
        ),
      ),
  )
).filter((m): m is string => m !== null);
rmSync(probeDir, { recursive: true, force: true });
const skip = builtinFailures.length ? `a built-in plugin does not load in this checkout: ${builtinFailures[0]}` : false;

describe('PluginRegistry.discover', { skip }, () => {
  const fixture = createPluginFixture();
  after(() => fixture.remove());

  it('loads the valid plugins and keeps the broken ones, each with a message naming it', async () => {
    const registry = await PluginRegistry.discover({ cwd: fixture.cwd });
    const loaded = new Map(registry.plugins.map((p) => [p.plugin.meta.name, p]));
    for (const name of ['expgen-plugin-a', '@scope/expgen-plugin-b', 'c', 'expgen-plugin-linked']) {
      assert.equal(loaded.get(name)?.candidate.origin, 'node_modules', name);
    }
    assert.ok(!loaded.has('d'));
    const broken = new Map(registry.broken.map((b) => [b.candidate.name, b.error]));
    assert.deepEqual(
      [...broken.keys()].filter((n) => n.startsWith('expgen-plugin-') && !n.startsWith('expgen-plugin-text')).sort(),
      ['expgen-plugin-e', 'expgen-plugin-f', 'expgen-plugin-g'],
    );
    assert.match(
      broken.get('expgen-plugin-e')!,
      /^plugin "expgen-plugin-e" \(.+\) could not be imported from .+: plugin e exploded on import$/,
    );
    assert.match(
      broken.get('expgen-plugin-f')!,
      /^plugin "expgen-plugin-f" \(.+\) is not a valid expgen plugin: meta\.apiVersion is undefined/,
    );
    assert.match(
      broken.get('expgen-plugin-g')!,
      /^plugin "expgen-plugin-g" \(.+\) could not be imported .*is it built\?/,
    );
  });

  it("finds the built-ins, never a project's impostor", async () => {
    const registry = await PluginRegistry.discover({ cwd: fixture.cwd });
    const neurons = registry.plugins.filter((p) => p.plugin.meta.name === '@expgen/plugin-neurons');
    assert.equal(neurons.length, 1);
    assert.equal(neurons[0]!.candidate.origin, 'builtin');
    assert.notEqual(neurons[0]!.plugin.meta.version, '9.9.9');
    assert.equal(registry.find('activation-source', 'mlp', undefined, 'w').plugin.meta.name, '@expgen/plugin-neurons');
    assert.equal(registry.find('dataset', 'jsonl', undefined, 'w').plugin.meta.name, '@expgen/plugin-datasets');
    assert.equal(registry.find('scorer', 'correlation', undefined, 'w').plugin.meta.name, '@expgen/plugin-baseline');
    throwsNaming(() => registry.find('activation-source', 'impostor', undefined, 'w'), ['found "impostor"']);
    const listing = describePlugins(registry);
    for (const name of ['@expgen/plugin-neurons', '@expgen/plugin-datasets', '@expgen/plugin-baseline']) {
      assert.equal(listing.find((p) => p.name === name)?.origin, 'builtin', name);
    }
  });

  it('resolves ambiguity with the plugin key, and suggests near names across discovered plugins', async () => {
    const registry = await PluginRegistry.discover({ cwd: fixture.cwd });
    throwsNaming(
      () => registry.find('describer', 'shared', undefined, 'c.yaml: describer.component'),
      [
        'the describer "shared" is provided by several plugins (@scope/expgen-plugin-b, expgen-plugin-a)',
        '"plugin" key',
      ],
    );
    assert.equal(
      registry.find('describer', 'shared', '@scope/expgen-plugin-b', 'w').plugin.meta.name,
      '@scope/expgen-plugin-b',
    );
    const message = throwsNaming(
      () => registry.find('scorer', 'alpha-scorr', undefined, 'c.yaml: scorer.component'),
      [
        'c.yaml: scorer.component: expected a scorer component (',
        'alpha-scorer',
        'linked-scorer',
        'found "alpha-scorr" (did you mean "alpha-scorer"?)',
        'plugins that failed to load: ',
        'expgen-plugin-e',
        'expgen-plugin-f',
      ],
    );
    assert.ok(message.includes('correlation'), 'built-in components are listed too');
  });

  it('loads config-path plugins, with origin config', async () => {
    const registry = await PluginRegistry.discover({
      cwd: fixture.cwd,
      configPaths: [
        { path: '../local-plugin', baseDir: fixture.cwd },
        { path: 'single/plugin.mjs', baseDir: fixture.root },
      ],
    });
    const local = registry.plugins.find((p) => p.plugin.meta.name === 'local-plugin');
    assert.equal(local?.candidate.origin, 'config');
    assert.equal(registry.find('simulator', 'local-sim', undefined, 'w').plugin.meta.name, 'local-plugin');
    assert.equal(registry.find('scorer', 'single-scorer', undefined, 'w').plugin.meta.name, 'single-file');
    assert.equal(
      registry.find('describer', 'alpah', undefined, 'w').plugin.meta.name,
      'local-plugin',
      'an exact name wins over a near one',
    );
  });

  it('throws for a broken config-path plugin, naming it', async () => {
    await assert.rejects(
      PluginRegistry.discover({ cwd: fixture.cwd, configPaths: [{ path: fixture.brokenLocalPlugin, baseDir: '/' }] }),
      (error: unknown) => {
        assert.ok(isExpgenError(error));
        assert.ok(!error.message.includes('\n'));
        assert.match(
          error.message,
          /^plugin "broken-local" \(.+broken-local\) is not a valid expgen plugin: components\[0\] \("Bad Name"\)\.name must be lowercase/,
        );
        return true;
      },
    );
    await assert.rejects(
      PluginRegistry.discover({ cwd: fixture.cwd, configPaths: [{ path: 'not-there', baseDir: fixture.root }] }),
      /^ExpgenError: plugin ".+not-there" \(.+not-there\) was not found: check the path in plugins\.paths$/,
    );
  });

  it('describePlugins lists loaded and broken plugins in the stable shape', async () => {
    const registry = await PluginRegistry.discover({ cwd: fixture.cwd });
    const listing = describePlugins(registry);
    const b = listing.find((p) => p.name === '@scope/expgen-plugin-b');
    assert.deepEqual(b, {
      name: '@scope/expgen-plugin-b',
      version: '0.0.1',
      description: 'fixture',
      origin: 'node_modules',
      location: registry.plugins.find((p) => p.plugin.meta.name === '@scope/expgen-plugin-b')!.candidate.location,
      commands: true,
      components: [
        { kind: 'describer', name: 'shared', description: 'The describer shared of @scope/expgen-plugin-b.' },
        { kind: 'simulator', name: 'beta', description: 'The simulator beta of @scope/expgen-plugin-b.' },
      ],
    });
    const e = listing.find((p) => p.name === 'expgen-plugin-e');
    assert.equal(e?.version, null);
    assert.deepEqual(e?.components, []);
    assert.match(e?.error ?? '', /plugin e exploded on import/);
    assert.ok(!listing.some((p) => p.name === 'd'));
  });
});
