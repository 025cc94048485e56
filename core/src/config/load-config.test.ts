import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { isExpgenError } from '@expgen/contract';
import { configSchema } from './config-schema.js';
import { canonicalJson } from '@expgen/plugin-kit';
import { configsDir, defaultConfigFile, hashConfig, loadConfig, mergeConfig, parseSet } from './load-config.js';

const root = mkdtempSync(join(tmpdir(), 'expgen-config-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let projects = 0;

/** A temp project: a folder with a package.json (so the config search stops there) and the given files. */
function project(files: Record<string, string> = {}): string {
  const dir = join(root, `p${projects++}`);
  mkdirSync(dir, { recursive: true });
  if (!('package.json' in files))
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: basename(dir), private: true }));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Asserts an ExpgenError with a one-line message containing every part, in order. */
async function rejectsWith(promise: Promise<unknown>, parts: readonly string[]): Promise<string> {
  let message = '';
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isExpgenError(error), `an ExpgenError, got ${String(error)}`);
    message = error.message;
    assert.ok(!message.includes('\n'), `one line: ${message}`);
    let at = 0;
    for (const part of parts) {
      const found = message.indexOf(part, at);
      assert.ok(found >= 0, `"${part}" in order in: ${message}`);
      at = found + part.length;
    }
    return true;
  });
  return message;
}

describe('the embedded default', () => {
  it('is configs/demo.yaml, and loads and validates on its own', async () => {
    const loaded = await loadConfig({ search: false });
    assert.equal(loaded.file, null);
    assert.equal(loaded.defaultFile, defaultConfigFile());
    assert.equal(basename(loaded.defaultFile), 'demo.yaml');
    assert.equal(dirname(loaded.defaultFile), resolve(configsDir()));
    assert.ok(existsSync(loaded.defaultFile));
    assert.deepEqual(loaded.config, configSchema.parse(parseYaml(readFileSync(loaded.defaultFile, 'utf8'))));
    assert.equal(loaded.config.subject.component, 'llama');
    assert.equal(loaded.config.activation.component, 'mlp');
    assert.equal(loaded.config.datasets.length, 1);
    assert.equal(loaded.config.describer.component, 'baseline');
    assert.equal(loaded.config.scorer.component, 'correlation');
    assert.equal(loaded.hash, hashConfig(loaded.config));
    assert.match(loaded.hash, /^[0-9a-f]{64}$/);
  });

  it('names a corpus that exists, relative to its own folder', async () => {
    const loaded = await loadConfig({ search: false });
    const options = loaded.config.datasets[0]!.options as { path: string };
    assert.equal(loaded.baseDirOf(['datasets', 0, 'options']), dirname(loaded.defaultFile));
    assert.ok(existsSync(resolve(loaded.baseDirOf(['datasets', 0, 'options']), options.path)));
    assert.equal(loaded.sourceOf(['exemplars', 'topK']), loaded.defaultFile);
  });

  it('is what a search finds when the project has no config', async () => {
    const dir = project();
    const loaded = await loadConfig({ cwd: dir });
    assert.equal(loaded.file, null);
    assert.equal(loaded.hash, (await loadConfig({ search: false })).hash);
  });
});

describe('a config file', () => {
  it('merges a partial YAML file over the default', async () => {
    const dir = project({ 'partial.yaml': 'exemplars:\n  topK: 7\ndescriber:\n  options:\n    maxTokens: 9\n' });
    const loaded = await loadConfig({ cwd: dir, configFile: 'partial.yaml' });
    const file = join(dir, 'partial.yaml');
    assert.equal(loaded.file, file);
    assert.equal(loaded.config.exemplars.topK, 7);
    const defaults = (await loadConfig({ search: false })).config;
    assert.equal(loaded.config.exemplars.sequences, defaults.exemplars.sequences, 'siblings come from the default');
    assert.equal(loaded.config.exemplars.seqLen, defaults.exemplars.seqLen, 'siblings come from the default');
    assert.equal(loaded.config.subject.component, 'llama');
    assert.deepEqual(loaded.config.describer, { component: 'baseline', options: { maxTokens: 9 } });
    assert.notEqual(loaded.hash, (await loadConfig({ search: false })).hash);
  });

  it('replaces lists rather than merging them', async () => {
    const dir = project({ 'c.yaml': 'datasets:\n  - component: jsonl\n    options: { path: mine.jsonl }\n' });
    const loaded = await loadConfig({ cwd: dir, configFile: join(dir, 'c.yaml') });
    assert.deepEqual(loaded.config.datasets, [{ component: 'jsonl', ratio: 1, options: { path: 'mine.jsonl' } }]);
  });

  it('points baseDirOf and sourceOf at the file that set a value', async () => {
    const dir = project({
      'conf/c.yaml':
        'exemplars: { topK: 7 }\ndatasets:\n  - component: jsonl\n    options: { path: mine.jsonl }\nplugins: { paths: [./local] }\n',
    });
    const file = join(dir, 'conf', 'c.yaml');
    const loaded = await loadConfig({ cwd: dir, configFile: 'conf/c.yaml' });
    assert.equal(loaded.sourceOf(['exemplars', 'topK']), file);
    assert.equal(loaded.sourceOf(['exemplars', 'seqLen']), loaded.defaultFile);
    assert.equal(loaded.baseDirOf(['datasets', 0, 'options']), join(dir, 'conf'));
    assert.equal(loaded.baseDirOf(['plugins', 'paths', 0]), join(dir, 'conf'));
    assert.equal(loaded.baseDirOf(['subject', 'options']), dirname(loaded.defaultFile));
    assert.equal(loaded.sourceOf(['describer', 'component']), loaded.defaultFile);
  });

  it('fails on a misspelt key, naming the file, the key path and the nearest key', async () => {
    const dir = project({ 'c.yaml': 'exemplars:\n  topk: 5\n' });
    const file = join(dir, 'c.yaml');
    await rejectsWith(loadConfig({ cwd: dir, configFile: file }), [
      file,
      ': exemplars.topk: unknown key (did you mean "topK"?)',
      'the keys here are',
      'topK',
    ]);
  });

  it('fails on a misspelt top-level key', async () => {
    const dir = project({ 'c.yaml': 'describr:\n  component: baseline\n' });
    const file = join(dir, 'c.yaml');
    await rejectsWith(loadConfig({ cwd: dir, configFile: file }), [
      file,
      ': describr: unknown key (did you mean "describer"?)',
    ]);
  });

  it('fails on a wrong type, saying what was expected and what was found', async () => {
    const dir = project({ 'c.yaml': 'exemplars:\n  topK: ten\n' });
    const file = join(dir, 'c.yaml');
    const message = await rejectsWith(loadConfig({ cwd: dir, configFile: file }), [file]);
    assert.equal(message, `${file}: exemplars.topK: expected an integer >= 1, found "ten"`);
  });

  it('names index paths inside lists', async () => {
    const dir = project({ 'c.yaml': 'datasets:\n  - component: jsonl\n  - component: jsonl\n    ratio: -1\n' });
    const file = join(dir, 'c.yaml');
    const message = await rejectsWith(loadConfig({ cwd: dir, configFile: file }), [file]);
    assert.equal(message, `${file}: datasets[1].ratio: expected a number > 0, found number -1`);
  });

  it('fails on a missing file, a YAML syntax error and a non-mapping, in one line naming the file', async () => {
    const dir = project({ 'bad.yaml': 'exemplars: [1, 2\n  topK: : 3\n', 'list.yaml': '- 1\n- 2\n' });
    await rejectsWith(loadConfig({ cwd: dir, configFile: 'missing.yaml' }), [
      `config file ${join(dir, 'missing.yaml')} does not exist`,
      '--config',
    ]);
    await rejectsWith(loadConfig({ cwd: dir, configFile: 'bad.yaml' }), [
      `${join(dir, 'bad.yaml')}: YAML syntax error at line 2, column`,
    ]);
    await rejectsWith(loadConfig({ cwd: dir, configFile: 'list.yaml' }), [
      `${join(dir, 'list.yaml')}: expected a mapping of config keys at the top level, found a list`,
    ]);
  });

  it('gives the line, the column and the reason of a YAML or JSON syntax error, found or named', async () => {
    const dir = project({
      'flow.yaml': 'exemplars:\n  topK: 5\n  seqLen: [1, 2\nfeatures: null\n',
      'indent.yaml': 'exemplars:\n  topK: 5\n   seqLen: 3\n',
      'comma.json': '{\n  "exemplars": {\n    "topK": 5,\n  }\n}\n',
      'cut.json': '{\n  "exemplars": {"topK": 5',
    });
    await rejectsWith(loadConfig({ cwd: dir, configFile: 'flow.yaml' }), [
      `${join(dir, 'flow.yaml')}: YAML syntax error at line 4, column 1: missed comma between flow collection entries`,
    ]);
    await rejectsWith(loadConfig({ cwd: dir, configFile: 'indent.yaml' }), [
      `${join(dir, 'indent.yaml')}: YAML syntax error at line 3, column`,
      'bad indentation of a mapping entry',
    ]);
    await rejectsWith(loadConfig({ cwd: dir, configFile: 'comma.json' }), [
      `${join(dir, 'comma.json')}: JSON syntax error at line 4, column 3: `,
      'property name',
    ]);
    await rejectsWith(loadConfig({ cwd: dir, configFile: 'cut.json' }), [
      `${join(dir, 'cut.json')}: JSON syntax error at line 2, column`,
    ]);
    const found = project({ 'expgen.config.yaml': 'exemplars:\n  topK: [5\n' });
    await rejectsWith(loadConfig({ cwd: found }), [
      `${join(found, 'expgen.config.yaml')}: YAML syntax error at line 3, column 1: `,
    ]);
  });

  it("switching a section's component drops the options inherited for the old one", async () => {
    const dir = project({
      'c.yaml': 'describer:\n  component: other\nsimulator:\n  component: different\n  options: { x: 1 }\n',
    });
    const loaded = await loadConfig({ cwd: dir, configFile: 'c.yaml' });
    assert.deepEqual(loaded.config.describer, { component: 'other' });
    assert.deepEqual(loaded.config.simulator, { component: 'different', options: { x: 1 } });
  });

  it('naming the same component keeps the inherited options', async () => {
    const dir = project({ 'c.yaml': 'describer:\n  component: baseline\n' });
    const loaded = await loadConfig({ cwd: dir, configFile: 'c.yaml' });
    assert.deepEqual(loaded.config.describer, { component: 'baseline', options: { maxTokens: 5 } });
  });

  it('hashes equal configs equally whatever order their keys were written in', async () => {
    const dir = project({
      'a.yaml': 'exemplars:\n  topK: 7\n  seqLen: 32\ndescribe:\n  seed: 3\n  candidates: 2\n',
      'b.yaml': 'describe:\n  candidates: 2\n  seed: 3\nexemplars:\n  seqLen: 32\n  topK: 7\n',
    });
    const a = await loadConfig({ cwd: dir, configFile: 'a.yaml' });
    const b = await loadConfig({ cwd: dir, configFile: 'b.yaml' });
    assert.equal(a.hash, b.hash);
  });
});

describe('--set', () => {
  it('reads values as YAML: numbers, booleans, null, lists, mappings and strings', async () => {
    const loaded = await loadConfig({
      search: false,
      sets: [
        'exemplars.topK=50',
        'exemplars.rankPrefix=true',
        'exemplars.memoryBudgetGB=1.5',
        'exemplars.prefix=null',
        'describe.thresholdQuantiles=[0.1, 0.01]',
        'exemplars.splits={train: 2}',
        'exemplars.chatDate=1 Jan 2025',
        'features=mlp/0/1',
        'cacheDir=',
      ],
    });
    const { exemplars } = loaded.config;
    assert.equal(exemplars.topK, 50);
    assert.equal(exemplars.rankPrefix, true);
    assert.equal(exemplars.memoryBudgetGB, 1.5);
    assert.equal(exemplars.prefix, null);
    assert.deepEqual(loaded.config.describe.thresholdQuantiles, [0.1, 0.01]);
    assert.deepEqual(exemplars.splits, { train: 2, valid: 1, test: 1 }, 'a mapping merges with the inherited one');
    assert.equal(exemplars.chatDate, '1 Jan 2025');
    assert.equal(loaded.config.features, 'mlp/0/1');
    assert.equal(loaded.config.cacheDir, null, 'an empty value is null');
  });

  it('parses key paths with [index]', () => {
    assert.deepEqual(parseSet('datasets[0].ratio=0.5'), { path: ['datasets', 0, 'ratio'], value: 0.5 });
    assert.deepEqual(parseSet('a[1][2].b_c-d=x'), { path: ['a', 1, 2, 'b_c-d'], value: 'x' });
    assert.deepEqual(parseSet(' exemplars.topK =7'), { path: ['exemplars', 'topK'], value: 7 });
    assert.deepEqual(
      parseSet('exemplars.prefix=a=b'),
      { path: ['exemplars', 'prefix'], value: 'a=b' },
      'the value starts after the first "="',
    );
    assert.deepEqual(parseSet('x=false'), { path: ['x'], value: false });
    assert.deepEqual(parseSet('x=~'), { path: ['x'], value: null });
    assert.deepEqual(parseSet('x="3"'), { path: ['x'], value: '3' });
  });

  it('sets one field of an inherited list item, keeping the rest of the list', async () => {
    const base = await loadConfig({ search: false });
    const loaded = await loadConfig({ search: false, sets: ['datasets[0].ratio=0.5'] });
    assert.deepEqual(loaded.config.datasets, [{ ...base.config.datasets[0]!, ratio: 0.5 }]);
    assert.equal(
      loaded.baseDirOf(['datasets', 0, 'options']),
      dirname(loaded.defaultFile),
      'the inherited options still resolve against the default',
    );
    assert.equal(loaded.sourceOf(['datasets', 0, 'ratio']), '--set');
  });

  it('sets one field of a list from the file, and adds an item at the end of a list', async () => {
    const dir = project({ 'c.yaml': 'datasets:\n  - component: jsonl\n    options: { path: a.jsonl }\n' });
    const loaded = await loadConfig({
      cwd: dir,
      configFile: 'c.yaml',
      sets: ['datasets[0].ratio=2', 'datasets[1]={component: jsonl, name: second}'],
    });
    assert.deepEqual(loaded.config.datasets, [
      { component: 'jsonl', ratio: 2, options: { path: 'a.jsonl' } },
      { component: 'jsonl', name: 'second', ratio: 1 },
    ]);
    assert.equal(loaded.baseDirOf(['datasets', 0, 'options']), dir);
  });

  it('an inherited list stays attributed to the default when a file lacks it', async () => {
    const dir = project({ 'c.yaml': 'exemplars: { topK: 3 }\n' });
    const loaded = await loadConfig({ cwd: dir, configFile: 'c.yaml', sets: ['datasets[0].ratio=3'] });
    assert.equal(loaded.config.datasets[0]!.ratio, 3);
    assert.equal(loaded.config.datasets[0]!.name, 'demo');
    assert.equal(loaded.sourceOf(['datasets', 0, 'options', 'path']), loaded.defaultFile);
    assert.equal(loaded.baseDirOf(['datasets', 0, 'options']), dirname(loaded.defaultFile));
  });

  it('applies over the file, later flags winning, and is its own source', async () => {
    const dir = project({ 'c.yaml': 'exemplars:\n  topK: 7\n' });
    const loaded = await loadConfig({ cwd: dir, configFile: 'c.yaml', sets: ['exemplars.topK=8', 'exemplars.topK=9'] });
    assert.equal(loaded.config.exemplars.topK, 9);
    assert.equal(loaded.sourceOf(['exemplars', 'topK']), '--set');
    assert.equal(loaded.sourceOf(['exemplars']), '--set', 'a section holding a set key');
    assert.equal(loaded.baseDirOf(['exemplars', 'topK']), dir, '--set paths resolve against the current folder');
  });

  it('switching a component with --set drops the inherited options; options-only sets merge', async () => {
    const switched = await loadConfig({ search: false, sets: ['describer.component=other'] });
    assert.deepEqual(switched.config.describer, { component: 'other' });
    const same = await loadConfig({ search: false, sets: ['describer.component=baseline'] });
    assert.deepEqual(same.config.describer, { component: 'baseline', options: { maxTokens: 5 } });
    const merged = await loadConfig({ search: false, sets: ['describer.options.temperature=0.5'] });
    assert.deepEqual(merged.config.describer, { component: 'baseline', options: { maxTokens: 5, temperature: 0.5 } });
    const both = await loadConfig({ search: false, sets: ['describer.component=other', 'describer.options.k=2'] });
    assert.deepEqual(both.config.describer, { component: 'other', options: { k: 2 } });
  });

  for (const [set, parts] of [
    ['exemplars.topK=ten', ['--set: exemplars.topK: expected an integer >= 1, found "ten"']],
    ['exemplars.topK=0', ['--set: exemplars.topK: expected an integer >= 1, found number 0']],
    ['exemplars.topk=5', ['--set: exemplars.topk: unknown key (did you mean "topK"?)']],
    ['datasets[0].ratio=-1', ['--set: datasets[0].ratio: expected a number > 0, found number -1']],
    [
      'describe.thresholdQuantiles=[]',
      ['--set: describe.thresholdQuantiles: expected a list of at least 1 of numbers > 0 and <= 0.5, found a list'],
    ],
    [
      'describe.thresholdQuantiles=[0.1, 0.9]',
      ['--set: describe.thresholdQuantiles[1]: expected a number > 0 and <= 0.5, found number 0.9'],
    ],
    ['exemplars=3', ['--set: exemplars: expected a mapping, found number 3']],
    ['exemplars.topK', ['--set "exemplars.topK" is not valid: expected path=value']],
    ['=3', ['--set "=3" is not valid']],
    ['exemplars..topK=3', ['--set "exemplars..topK=3"', 'is not a key path']],
    ['datasets[x].ratio=3', ['--set "datasets[x].ratio=3"', 'is not a key path']],
    ['exemplars.topK=[1', ['--set "exemplars.topK=[1": the value is not valid YAML']],
    ['datasets[3].ratio=1', ['--set "datasets[3].ratio=1": datasets has 1 item, so its index can be at most 1']],
  ] as const) {
    it(`rejects --set ${set} in one line naming --set and the key`, async () => {
      await rejectsWith(loadConfig({ search: false, sets: [set] }), parts);
    });
  }

  it('a bad --set is reported as --set even when a file is in use', async () => {
    const dir = project({ 'expgen.config.yaml': 'exemplars:\n  topK: 7\n' });
    const message = await rejectsWith(loadConfig({ cwd: dir, sets: ['exemplars.topK=-2'] }), []);
    assert.equal(message, '--set: exemplars.topK: expected an integer >= 1, found number -2');
  });
});

describe('mergeConfig', () => {
  it('merges mappings key by key, replaces lists and scalars, and restarts a section whose component changes', () => {
    const base = {
      a: { x: 1, y: [1, 2] },
      describer: { component: 'one', options: { k: 1 } },
      scorer: { component: 's', options: { q: 1 } },
      n: 1,
    };
    const over = { a: { y: [3] }, describer: { component: 'two' }, scorer: { options: { r: 2 } }, n: 2 };
    assert.deepEqual(mergeConfig(base, over), {
      a: { x: 1, y: [3] },
      describer: { component: 'two' },
      scorer: { component: 's', options: { q: 1, r: 2 } },
      n: 2,
    });
    assert.deepEqual(base.a.y, [1, 2], 'the base is not modified');
  });

  it('only component sections restart', () => {
    assert.deepEqual(mergeConfig({ exemplars: { component: 'a', k: 1 } }, { exemplars: { component: 'b' } }), {
      exemplars: { component: 'b', k: 1 },
    });
  });
});

describe('hashConfig / canonicalJson', () => {
  it('is stable under key reordering at every depth', () => {
    const a = { a: 1, b: { c: 2, d: [{ x: 1, y: { p: 1, q: 2 } }] }, e: null };
    const b = { e: null, b: { d: [{ y: { q: 2, p: 1 }, x: 1 }], c: 2 }, a: 1 };
    assert.equal(canonicalJson(a), canonicalJson(b));
    assert.equal(canonicalJson(b), '{"a":1,"b":{"c":2,"d":[{"x":1,"y":{"p":1,"q":2}}]},"e":null}');
    assert.equal(hashConfig(a), hashConfig(b));
  });

  it('changes with any value and with list order', () => {
    const a = { a: [1, 2], b: { c: 'x' } };
    assert.notEqual(hashConfig(a), hashConfig({ a: [2, 1], b: { c: 'x' } }));
    assert.notEqual(hashConfig(a), hashConfig({ a: [1, 2], b: { c: 'y' } }));
    assert.notEqual(hashConfig(a), hashConfig({ a: [1, 2], b: { c: 'x', d: 1 } }));
  });

  it('is a sha256 hex digest', () => {
    assert.match(hashConfig({}), /^[0-9a-f]{64}$/);
  });
});

describe('the config search (cosmiconfig)', () => {
  it('finds expgen.config.yaml from a nested folder of the project', async () => {
    const dir = project({ 'expgen.config.yaml': 'exemplars:\n  topK: 11\n' });
    mkdirSync(join(dir, 'src', 'deep'), { recursive: true });
    for (const cwd of [dir, join(dir, 'src', 'deep')]) {
      const loaded = await loadConfig({ cwd });
      assert.equal(loaded.file, join(dir, 'expgen.config.yaml'));
      assert.equal(loaded.config.exemplars.topK, 11);
      assert.equal(loaded.sourceOf(['exemplars', 'topK']), join(dir, 'expgen.config.yaml'));
    }
  });

  it('finds .expgenrc.json', async () => {
    const dir = project({ '.expgenrc.json': JSON.stringify({ exemplars: { topK: 12 } }) });
    const loaded = await loadConfig({ cwd: dir });
    assert.equal(loaded.file, join(dir, '.expgenrc.json'));
    assert.equal(loaded.config.exemplars.topK, 12);
  });

  it('finds the "expgen" key of package.json', async () => {
    const dir = project({
      'package.json': JSON.stringify({ name: 'with-config', expgen: { exemplars: { topK: 13 } } }),
    });
    const loaded = await loadConfig({ cwd: dir });
    assert.equal(loaded.file, join(dir, 'package.json'));
    assert.equal(loaded.config.exemplars.topK, 13);
    assert.equal(loaded.baseDirOf(['exemplars', 'topK']), dir);
  });

  it('prefers expgen.config.yaml to package.json', async () => {
    const dir = project({
      'package.json': JSON.stringify({ name: 'both', expgen: { exemplars: { topK: 13 } } }),
      'expgen.config.yaml': 'exemplars:\n  topK: 14\n',
    });
    const loaded = await loadConfig({ cwd: dir });
    assert.equal(loaded.file, join(dir, 'expgen.config.yaml'));
    assert.equal(loaded.config.exemplars.topK, 14);
  });

  it('stops at the project root and can be turned off', async () => {
    const outer = project({ 'expgen.config.yaml': 'exemplars:\n  topK: 15\n' });
    const inner = join(outer, 'inner');
    mkdirSync(inner);
    writeFileSync(join(inner, 'package.json'), JSON.stringify({ name: 'inner' }));
    assert.equal((await loadConfig({ cwd: inner })).file, null, 'a config above the nearest package.json is not used');
    assert.equal((await loadConfig({ cwd: outer, search: false })).file, null);
  });

  it('reports errors in a found file against that file', async () => {
    const dir = project({ '.expgenrc.json': JSON.stringify({ exemplars: { topK: 'ten' } }) });
    const file = join(dir, '.expgenrc.json');
    const message = await rejectsWith(loadConfig({ cwd: dir }), [file]);
    assert.equal(message, `${file}: exemplars.topK: expected an integer >= 1, found "ten"`);
  });
});
