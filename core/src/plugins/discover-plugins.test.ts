import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isExpgenError, checkPluginShape } from '@expgen/contract';
import { BUILTIN_PLUGINS, PLUGIN_NAME_PATTERN } from './builtin-plugins.js';
import { discoverPlugins, type PluginCandidate } from './discover-plugins.js';
import { loadPluginFrom, packageEntry } from './load-plugin.js';
import { createPluginFixture } from './plugin-fixtures.test-util.js';

const fixture = createPluginFixture();
after(() => fixture.remove());
const real = (path: string) => realpathSync(path);

function byName(candidates: readonly PluginCandidate[]): Map<string, PluginCandidate> {
  return new Map(candidates.map((c) => [c.name, c]));
}

async function rejectsNaming(promise: Promise<unknown>, parts: readonly string[]): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isExpgenError(error), `an ExpgenError, got ${String(error)}`);
    assert.ok(!error.message.includes('\n'), `one line: ${error.message}`);
    for (const part of parts) assert.ok(error.message.includes(part), `"${part}" in: ${error.message}`);
    return true;
  });
}

describe('discoverPlugins', () => {
  const found = discoverPlugins({ cwd: fixture.cwd });
  const names = byName(found);

  it('finds every built-in plugin first, where this install has it', () => {
    assert.deepEqual(
      found.slice(0, BUILTIN_PLUGINS.length).map((c) => c.name),
      [...BUILTIN_PLUGINS],
    );
    for (const name of BUILTIN_PLUGINS) {
      const c = names.get(name)!;
      assert.equal(c.origin, 'builtin');
      assert.ok(!c.location.startsWith(fixture.root), `${name} is the installed one, not the fixture's`);
    }
    assert.equal(names.get('@expgen/plugin-neurons')!.location, real(names.get('@expgen/plugin-neurons')!.location));
  });

  it('finds packages named expgen-plugin-* and @scope/expgen-plugin-* in node_modules', () => {
    const a = names.get('expgen-plugin-a');
    assert.deepEqual(a, {
      name: 'expgen-plugin-a',
      location: real(join(fixture.nodeModules, 'expgen-plugin-a')),
      origin: 'node_modules',
      hasCommands: false,
    });
    const b = names.get('@scope/expgen-plugin-b');
    assert.deepEqual(b, {
      name: '@scope/expgen-plugin-b',
      location: real(join(fixture.nodeModules, '@scope', 'expgen-plugin-b')),
      origin: 'node_modules',
      hasCommands: true,
    });
  });

  it('finds a package of any name carrying the expgen-plugin keyword', () => {
    assert.equal(names.get('c')?.origin, 'node_modules');
  });

  it('ignores ordinary packages, dot folders and loose files', () => {
    assert.ok(!names.has('d'));
    assert.ok(
      !found.some((c) => c.location.includes(`${join(fixture.nodeModules, '.bin')}`) || c.name.startsWith('.')),
    );
  });

  it('finds broken plugins too: loading, not discovery, finds them broken', () => {
    for (const name of ['expgen-plugin-e', 'expgen-plugin-f', 'expgen-plugin-g'])
      assert.equal(names.get(name)?.origin, 'node_modules', name);
  });

  it('reports a linked package at its real location', () => {
    assert.equal(names.get('expgen-plugin-linked')?.location, real(fixture.linkedSource));
  });

  it('never lets a project shadow a built-in', () => {
    const neurons = found.filter((c) => c.name === '@expgen/plugin-neurons');
    assert.equal(neurons.length, 1);
    assert.equal(neurons[0]!.origin, 'builtin');
  });

  it("also scans node_modules above expgen's own folder", () => {
    const elsewhere = discoverPlugins({ cwd: fixture.root });
    assert.ok(
      !byName(elsewhere).has('expgen-plugin-a'),
      'the fixture project is not on the path from its parent folder',
    );
    for (const name of BUILTIN_PLUGINS) assert.ok(byName(elsewhere).has(name));
    for (const c of elsewhere)
      assert.ok(c.origin === 'builtin' || !c.location.startsWith(fixture.root), `${c.name} is not from the fixture`);
  });

  it('adds config paths, resolved against their base folder, named by their package.json or their path', () => {
    const withPaths = byName(
      discoverPlugins({
        cwd: fixture.cwd,
        configPaths: [
          { path: '../local-plugin', baseDir: fixture.cwd },
          { path: fixture.singleFilePlugin, baseDir: '/nowhere' },
          { path: 'missing-plugin', baseDir: fixture.root },
        ],
      }),
    );
    assert.deepEqual(withPaths.get('local-plugin'), {
      name: 'local-plugin',
      location: fixture.localPlugin,
      origin: 'config',
      hasCommands: false,
    });
    assert.deepEqual(withPaths.get(fixture.singleFilePlugin), {
      name: fixture.singleFilePlugin,
      location: fixture.singleFilePlugin,
      origin: 'config',
      hasCommands: false,
    });
    assert.equal(
      withPaths.get(join(fixture.root, 'missing-plugin'))?.origin,
      'config',
      'a missing path is reported when loading',
    );
  });

  it('keeps the first found of a name: a config path cannot replace an installed package', () => {
    const withPaths = discoverPlugins({
      cwd: fixture.cwd,
      configPaths: [{ path: join(fixture.nodeModules, 'expgen-plugin-a'), baseDir: fixture.root }],
    });
    const a = withPaths.filter((c) => c.name === 'expgen-plugin-a');
    assert.equal(a.length, 1);
    assert.equal(a[0]!.origin, 'node_modules');
  });

  it('lists built-ins, then node_modules, then config paths', () => {
    const all = discoverPlugins({ cwd: fixture.cwd, configPaths: [{ path: fixture.localPlugin, baseDir: '/' }] });
    const rank = { builtin: 0, node_modules: 1, config: 2 } as const;
    const ranks = all.map((c) => rank[c.origin]);
    assert.deepEqual(
      ranks,
      [...ranks].sort((x, y) => x - y),
    );
    assert.equal(all.at(-1)?.name, 'local-plugin');
  });
});

describe('PLUGIN_NAME_PATTERN', () => {
  it('matches the naming convention only', () => {
    for (const name of [
      'expgen-plugin-a',
      'expgen-plugin-sae.v2',
      '@scope/expgen-plugin-b',
      '@my-org/expgen-plugin-x_y',
    ])
      assert.ok(PLUGIN_NAME_PATTERN.test(name), name);
    for (const name of [
      'expgen-plugin-',
      'expgen-plugin',
      'my-expgen-plugin-a',
      '@scope/other',
      '@expgen/plugin-neurons',
      'expgen-plugin-A',
      '@scope/sub/expgen-plugin-a',
    ]) {
      assert.ok(!PLUGIN_NAME_PATTERN.test(name), name);
    }
  });
});

describe('loadPluginFrom', () => {
  const names = byName(discoverPlugins({ cwd: fixture.cwd }));

  it('loads a plugin through "main"', async () => {
    const { plugin, candidate } = await loadPluginFrom(names.get('expgen-plugin-a')!);
    assert.equal(candidate.name, 'expgen-plugin-a');
    assert.deepEqual(plugin.meta, { name: 'expgen-plugin-a', version: '1.2.3', description: 'fixture', apiVersion: 1 });
    assert.deepEqual(
      plugin.components.map((c) => `${c.kind}/${c.name}`),
      ['describer/alpha', 'describer/shared', 'scorer/alpha-scorer'],
    );
  });

  it('loads a plugin through "exports", a keyword plugin and a linked one', async () => {
    assert.equal(
      (await loadPluginFrom(names.get('@scope/expgen-plugin-b')!)).plugin.meta.name,
      '@scope/expgen-plugin-b',
    );
    assert.equal((await loadPluginFrom(names.get('c')!)).plugin.components[0]!.name, 'gamma');
    assert.equal(
      (await loadPluginFrom(names.get('expgen-plugin-linked')!)).plugin.components[0]!.name,
      'linked-scorer',
    );
  });

  it('loads a single-file config path', async () => {
    const { plugin } = await loadPluginFrom({
      name: fixture.singleFilePlugin,
      location: fixture.singleFilePlugin,
      origin: 'config',
      hasCommands: false,
    });
    assert.equal(plugin.meta.name, 'single-file');
  });

  it('names the plugin and its location when its module throws', async () => {
    const e = names.get('expgen-plugin-e')!;
    await rejectsNaming(loadPluginFrom(e), [
      `plugin "expgen-plugin-e" (${e.location}) could not be imported from ${join(e.location, 'index.js')}`,
      'plugin e exploded on import',
    ]);
  });

  it('names the plugin and the problem when its export has the wrong shape', async () => {
    await rejectsNaming(loadPluginFrom(names.get('expgen-plugin-f')!), [
      'plugin "expgen-plugin-f"',
      'is not a valid expgen plugin: meta.apiVersion is undefined, but this expgen implements contract version 1',
    ]);
  });

  it('suggests building a plugin whose entry file is missing', async () => {
    await rejectsNaming(loadPluginFrom(names.get('expgen-plugin-g')!), [
      'plugin "expgen-plugin-g"',
      'could not be imported',
      '(is it built? run its build',
    ]);
  });

  it('says how to fix a missing config path and a missing built-in', async () => {
    const missing = join(fixture.root, 'nope');
    await rejectsNaming(loadPluginFrom({ name: missing, location: missing, origin: 'config', hasCommands: false }), [
      `plugin "${missing}" (${missing}) was not found: check the path in plugins.paths`,
    ]);
    await rejectsNaming(
      loadPluginFrom({
        name: '@expgen/plugin-gone',
        location: '@expgen/plugin-gone',
        origin: 'builtin',
        hasCommands: false,
      }),
      ['plugin "@expgen/plugin-gone" is missing from this install: run "npm ci"'],
    );
  });

  it('loads the built-in activation, dataset and baseline plugins', async () => {
    const expected: Record<string, string[]> = {
      '@expgen/plugin-neurons': ['activation-source/mlp', 'activation-source/resid'],
      '@expgen/plugin-datasets': ['dataset/jsonl'],
      '@expgen/plugin-baseline': ['describer/baseline', 'simulator/baseline', 'scorer/correlation'],
    };
    for (const [name, components] of Object.entries(expected)) {
      const { plugin, candidate } = await loadPluginFrom(names.get(name)!);
      assert.equal(candidate.origin, 'builtin');
      assert.equal(plugin.meta.name, name);
      for (const c of components)
        assert.ok(
          plugin.components.some((d) => `${d.kind}/${d.name}` === c),
          `${name} provides ${c}`,
        );
    }
  });
});

describe('packageEntry', () => {
  const pkg = (name: string, json: unknown): string => {
    const dir = join(fixture.root, 'entries', name);
    mkdirSync(dir, { recursive: true });
    if (json !== undefined) writeFileSync(join(dir, 'package.json'), JSON.stringify(json));
    return dir;
  };

  it('follows exports (string, "." and conditions), then main, then index.js', () => {
    const cases: [unknown, string][] = [
      [{ exports: './a.js', main: 'm.js' }, 'a.js'],
      [{ exports: { '.': './b.js', './package.json': './package.json' } }, 'b.js'],
      [{ exports: { '.': { types: './t.d.ts', import: './esm.js', require: './cjs.cjs' } } }, 'esm.js'],
      [{ exports: { '.': { types: './t.d.ts', default: './d.js' } } }, 'd.js'],
      [{ exports: { import: { types: './t.d.ts', default: './nested.js' } } }, 'nested.js'],
      [{ exports: { './feature': './f.js' }, main: 'main.js' }, 'main.js'],
      [{ main: './lib/main.js' }, join('lib', 'main.js')],
      [{ name: 'nothing' }, 'index.js'],
    ];
    cases.forEach(([json, entry], i) => {
      const dir = pkg(`case${i}`, json);
      assert.equal(packageEntry(dir), join(dir, entry), JSON.stringify(json));
    });
    const bare = pkg('bare', undefined);
    assert.equal(packageEntry(bare), join(bare, 'index.js'));
  });
});

describe('checkPluginShape', () => {
  const component = {
    kind: 'describer',
    name: 'ok',
    description: 'd',
    options: { parse: (v: unknown) => v },
    create: async () => ({}),
  };
  const meta = { name: 'p', version: '1.0.0', apiVersion: 1 };
  const cases: [unknown, string][] = [
    [undefined, 'its module has no default export with { meta, components }'],
    ['plugin', 'its module has no default export'],
    [{ components: [] }, 'meta.name and meta.version must be strings'],
    [{ meta: { name: 'p', version: 1, apiVersion: 1 }, components: [] }, 'meta.name and meta.version must be strings'],
    [
      { meta: { ...meta, apiVersion: 2 }, components: [] },
      'meta.apiVersion is 2, but this expgen implements contract version 1',
    ],
    [{ meta }, 'components must be a list'],
    [{ meta, components: [null] }, 'components[0] is not an object'],
    [
      { meta, components: [{ ...component, kind: 'tokenizer' }] },
      'components[0] ("ok").kind is "tokenizer", expected one of dataset, subject-model',
    ],
    [
      { meta, components: [{ ...component, name: 'Bad' }] },
      'components[0] ("Bad").name must be lowercase letters, digits, "-" and "."',
    ],
    [
      { meta, components: [{ ...component, create: undefined }] },
      'components[0] ("ok").create must be an async function',
    ],
    [{ meta, components: [{ ...component, options: {} }] }, 'components[0] ("ok").options must be a schema'],
    [
      { meta, components: [component, { ...component, kind: 'simulator' }, { ...component }] },
      'components[2] ("ok") repeats the describer "ok"',
    ],
  ];
  for (const [plugin, message] of cases) {
    it(`rejects: ${message}`, () => {
      assert.throws(
        () => checkPluginShape(plugin, 'plugin "p"'),
        (error: unknown) => {
          assert.ok(isExpgenError(error));
          assert.ok(error.message.startsWith('plugin "p" is not a valid expgen plugin: '), error.message);
          assert.ok(error.message.includes(message), `"${message}" in: ${error.message}`);
          return true;
        },
      );
    });
  }

  it('accepts a valid plugin, the same name under two kinds included', () => {
    checkPluginShape({ meta, components: [component, { ...component, kind: 'simulator' }] }, 'plugin "p"');
    checkPluginShape({ meta, components: [] }, 'plugin "p"');
    checkPluginShape({ meta, components: [{ ...component, name: 'llama-3.2-1b' }] }, 'plugin "p"');
  });
});
