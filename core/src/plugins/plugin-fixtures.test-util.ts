import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * A temp project for the plugin-discovery tests (not a test file itself: shared by discover-plugins.test and
 * plugin-registry.test). Plugins here cannot import @expgen/core, so their option schemas are minimal objects with
 * a `parse` method.
 */
export interface PluginFixture {
  readonly root: string;
  /** The project folder to discover from (holds node_modules). */
  readonly cwd: string;
  readonly nodeModules: string;
  /** Plugin folders and files outside node_modules, for plugins.paths. */
  readonly localPlugin: string;
  readonly singleFilePlugin: string;
  readonly brokenLocalPlugin: string;
  /** Where `node_modules/expgen-plugin-linked` points. */
  readonly linkedSource: string;
  remove(): void;
}

const OPTIONS = '{ parse: (value) => value ?? {} }';

/** Module text of a plugin whose components return `{ provenance, ...stub }`. */
function pluginModule(name: string, version: string, components: readonly { kind: string; name: string }[]): string {
  const decls = components.map(
    (c) => `{
    kind: ${JSON.stringify(c.kind)},
    name: ${JSON.stringify(c.name)},
    description: ${JSON.stringify(`The ${c.kind} ${c.name} of ${name}.`)},
    options: ${OPTIONS},
    create: async (options, context) => ({ provenance: context.provenance, options }),
  }`,
  );
  return `export default {\n  meta: { name: ${JSON.stringify(name)}, version: ${JSON.stringify(version)}, description: 'fixture', apiVersion: 1 },\n  components: [${decls.join(', ')}],\n};\n`;
}

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

function writePackage(dir: string, pkg: Record<string, unknown>, files: Record<string, string>): void {
  write(join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
  for (const [file, text] of Object.entries(files)) write(join(dir, file), text);
}

export function createPluginFixture(): PluginFixture {
  const root = mkdtempSync(join(tmpdir(), 'expgen-plugins-test-'));
  const cwd = join(root, 'project');
  const nodeModules = join(cwd, 'node_modules');
  write(join(cwd, 'package.json'), JSON.stringify({ name: 'fixture-project', private: true }));

  // a: a valid plugin found by its name, entry through "main".
  writePackage(
    join(nodeModules, 'expgen-plugin-a'),
    { name: 'expgen-plugin-a', version: '1.2.3', type: 'module', main: 'lib/index.js' },
    {
      'lib/index.js': pluginModule('expgen-plugin-a', '1.2.3', [
        { kind: 'describer', name: 'alpha' },
        { kind: 'describer', name: 'shared' },
        { kind: 'scorer', name: 'alpha-scorer' },
      ]),
    },
  );
  // b: a scoped plugin that declares commands, entry through "exports".
  writePackage(
    join(nodeModules, '@scope', 'expgen-plugin-b'),
    {
      name: '@scope/expgen-plugin-b',
      version: '0.0.1',
      type: 'module',
      exports: { '.': { import: './dist/entry.js' } },
      oclif: { commands: './dist/commands' },
    },
    {
      'dist/entry.js': pluginModule('@scope/expgen-plugin-b', '0.0.1', [
        { kind: 'describer', name: 'shared' },
        { kind: 'simulator', name: 'beta' },
      ]),
    },
  );
  // c: any name, marked by the keyword.
  writePackage(
    join(nodeModules, 'c'),
    { name: 'c', version: '3.0.0', type: 'module', keywords: ['nlp', 'expgen-plugin'], main: 'index.js' },
    {
      'index.js': pluginModule('c', '3.0.0', [{ kind: 'dataset', name: 'gamma' }]),
    },
  );
  // d: an ordinary package.
  writePackage(
    join(nodeModules, 'd'),
    { name: 'd', version: '1.0.0', type: 'module', keywords: ['expgen'], main: 'index.js' },
    {
      'index.js': 'export default { meta: { name: "d", version: "1.0.0", apiVersion: 1 }, components: [] };\n',
    },
  );
  // e: throws when imported.
  writePackage(
    join(nodeModules, 'expgen-plugin-e'),
    { name: 'expgen-plugin-e', version: '1.0.0', type: 'module', main: 'index.js' },
    {
      'index.js': 'throw new Error("plugin e exploded on import");\n',
    },
  );
  // f: the wrong shape (no apiVersion).
  writePackage(
    join(nodeModules, 'expgen-plugin-f'),
    { name: 'expgen-plugin-f', version: '1.0.0', type: 'module', main: 'index.js' },
    {
      'index.js': 'export default { meta: { name: "expgen-plugin-f", version: "1.0.0" }, components: [] };\n',
    },
  );
  // g: not built (its entry file is missing).
  writePackage(
    join(nodeModules, 'expgen-plugin-g'),
    { name: 'expgen-plugin-g', version: '1.0.0', type: 'module', main: 'dist/index.js' },
    {},
  );
  // A package that tries to shadow a built-in plugin.
  writePackage(
    join(nodeModules, '@expgen', 'plugin-neurons'),
    { name: '@expgen/plugin-neurons', version: '9.9.9', type: 'module', keywords: ['expgen-plugin'], main: 'index.js' },
    {
      'index.js': pluginModule('@expgen/plugin-neurons', '9.9.9', [{ kind: 'activation-source', name: 'impostor' }]),
    },
  );
  // A linked package (as npm link or a workspace makes): discovery reports where the code really is.
  const linkedSource = join(root, 'linked-src');
  writePackage(
    linkedSource,
    { name: 'expgen-plugin-linked', version: '0.1.0', type: 'module', main: 'index.js' },
    {
      'index.js': pluginModule('expgen-plugin-linked', '0.1.0', [{ kind: 'scorer', name: 'linked-scorer' }]),
    },
  );
  symlinkSync(linkedSource, join(nodeModules, 'expgen-plugin-linked'), 'dir');
  // Dot folders and loose files in node_modules are not packages.
  write(join(nodeModules, '.bin', 'tool'), '#!/bin/sh\n');
  write(join(nodeModules, '.package-lock.json'), '{}');

  // Plugins listed in the config (plugins.paths).
  const localPlugin = join(root, 'local-plugin');
  writePackage(
    localPlugin,
    { name: 'local-plugin', version: '0.2.0', type: 'module', main: 'index.js' },
    {
      'index.js': pluginModule('local-plugin', '0.2.0', [
        { kind: 'simulator', name: 'local-sim' },
        { kind: 'describer', name: 'alpah' },
      ]),
    },
  );
  const singleFilePlugin = join(root, 'single', 'plugin.mjs');
  write(singleFilePlugin, pluginModule('single-file', '0.0.0', [{ kind: 'scorer', name: 'single-scorer' }]));
  const brokenLocalPlugin = join(root, 'broken-local');
  writePackage(
    brokenLocalPlugin,
    { name: 'broken-local', version: '0.0.0', type: 'module', main: 'index.js' },
    {
      'index.js':
        'export default { meta: { name: "broken-local", version: "0.0.0", apiVersion: 1 }, components: [{ kind: "describer", name: "Bad Name" }] };\n',
    },
  );

  return {
    root,
    cwd,
    nodeModules,
    localPlugin,
    singleFilePlugin,
    brokenLocalPlugin,
    linkedSource,
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}
