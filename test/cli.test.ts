import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertOneLineError, repoRoot, runCli, tempDir } from './helpers/run-cli.js';

describe('expgen CLI', () => {
  it('--help lists every command', async () => {
    const result = await runCli(['--help']);
    assert.equal(result.code, 0);
    for (const command of ['run', 'exemplars', 'describe', 'score', 'plugins', 'config', 'model']) {
      assert.match(result.stdout, new RegExp(`^\\s+${command}\\s`, 'm'), `--help lists ${command}`);
    }
  });

  it('plugins --json lists the built-in plugins, and the example plugins when asked for, with their components', async () => {
    const result = await runCli(['plugins', '--json'], { env: { EXPGEN_EXAMPLES: '1' } });
    assert.equal(result.code, 0, result.stderr);
    const listing = JSON.parse(result.stdout) as {
      name: string;
      version: string;
      components: { kind: string; name: string }[];
    }[];
    const components = (name: string) =>
      listing
        .find((p) => p.name === name)
        ?.components.map((c) => `${c.kind}/${c.name}`)
        .sort();
    assert.deepEqual(components('@expgen/plugin-neurons'), ['activation-source/mlp', 'activation-source/resid']);
    assert.deepEqual(components('@expgen/plugin-datasets'), ['dataset/arrow', 'dataset/jsonl', 'dataset/parquet']);
    assert.deepEqual(components('@expgen/plugin-baseline'), [
      'describer/baseline',
      'scorer/correlation',
      'simulator/baseline',
    ]);
    assert.deepEqual(components('@expgen/plugin-llama'), [
      'describer/distilled-llama',
      'simulator/finetuned',
      'subject-model/llama',
    ]);
    assert.deepEqual(components('@expgen/plugin-openai'), [
      'describer/openai-compatible',
      'simulator/openai-compatible',
    ]);
    assert.deepEqual(components('@expgen/plugin-sae'), ['activation-source/sae']);
    assert.deepEqual(components('expgen-plugin-text-lines'), ['dataset/text-lines']);
    assert.deepEqual(components('expgen-plugin-llama-3.2-1b'), ['subject-model/llama-3.2-1b']);
    for (const plugin of listing) assert.match(plugin.version, /^\d+\.\d+\.\d+/);
  });

  it("config --json prints the embedded default with every plugin's defaults filled in", async () => {
    const result = await runCli(['config', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const config = JSON.parse(result.stdout);
    assert.equal(config.subject.component, 'llama');
    assert.equal(config.subject.options.provider, 'cpu');
    assert.equal(config.activation.component, 'mlp');
    assert.equal(config.datasets[0].options.textField, 'text', 'the jsonl plugin filled its default');
  });

  it('--set overrides any key', async () => {
    const result = await runCli([
      'config',
      '--json',
      '--set',
      'exemplars.topK=7',
      '--set',
      'activation.options.layers=[1]',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const config = JSON.parse(result.stdout);
    assert.equal(config.exemplars.topK, 7);
    assert.deepEqual(config.activation.options.layers, [1]);
  });

  describe('a bad config fails with one line naming the file, the key, what was expected and what was found', () => {
    const dir = tempDir();
    const cases: [string, string, RegExp][] = [
      ['misspelt key', 'exemplars:\n  topk: 10\n', /exemplars\.topk: unknown key \(did you mean "topK"\?\)/],
      ['wrong type', 'exemplars:\n  topK: ten\n', /exemplars\.topK: expected an integer >= 1, found "ten"/],
      [
        'unknown component',
        'describer:\n  component: distiled-llama\n',
        /describer\.component: expected a describer component \([a-z, -]*baseline[a-z, -]*\), found "distiled-llama" \(did you mean "distilled-llama"\?\)/,
      ],
      [
        'bad plugin option',
        'subject:\n  options:\n    provider: tpu\n',
        /subject\.options\.provider: expected one of "cpu", "webgpu", "cuda", found "tpu"/,
      ],
      [
        'not YAML',
        'exemplars: [unclosed\n',
        /YAML syntax error at line 2, column 1: unexpected end of the stream within a flow collection; fix the file$/,
      ],
    ];
    for (const [name, yaml, pattern] of cases) {
      it(name, async () => {
        const file = join(dir, `${name.replace(/\s/g, '-')}.yaml`);
        writeFileSync(file, yaml);
        const line = assertOneLineError(await runCli(['config', '--config', file]));
        assert.match(line, pattern);
        assert.ok(line.includes(file), `the message names ${file}: ${line}`);
      });
    }
    it('a missing --config file', async () => {
      assert.match(assertOneLineError(await runCli(['config', '--config', join(dir, 'nope.yaml')])), /does not exist/);
    });
    it('a bad --set', async () => {
      assert.match(
        assertOneLineError(await runCli(['config', '--set', 'exemplars.topK=-1'])),
        /^expgen: --set: exemplars\.topK: expected an integer >= 1, found number -1$/,
      );
    });
  });

  it('finds a config file in the current folder', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'expgen.config.yaml'), 'exemplars:\n  topK: 3\n');
    const result = await runCli(['config', '--json'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).exemplars.topK, 3);
  });

  it('runs a command added by a discovered third-party plugin', async () => {
    const result = await runCli(
      ['text-lines', 'stats', join(repoRoot, 'examples/expgen-plugin-text-lines/fixtures/sample.txt')],
      { env: { EXPGEN_EXAMPLES: '1' } },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /3 documents/);
  });

  it('keeps the example plugins of a checkout out of sight unless asked for', async () => {
    const names = async (args: string[], env: Record<string, string> = {}) => {
      const result = await runCli(['plugins', '--json', ...args], { env: { EXPGEN_EXAMPLES: '', ...env } });
      assert.equal(result.code, 0, result.stderr);
      return (JSON.parse(result.stdout) as { name: string }[]).map((p) => p.name);
    };
    const examples = ['expgen-plugin-llama-3.2-1b', 'expgen-plugin-text-lines'];
    const plain = await names([]);
    for (const example of examples) assert.ok(!plain.includes(example), `${example} is hidden`);
    assert.ok(plain.includes('@expgen/plugin-llama'));
    const asked = await names([], { EXPGEN_EXAMPLES: '1' });
    for (const example of examples) assert.ok(asked.includes(example), `EXPGEN_EXAMPLES=1 loads ${example}`);
    // Named in the config's plugins.paths: that one loads, the other stays hidden.
    const dir = tempDir();
    writeFileSync(
      join(dir, 'expgen.config.yaml'),
      `plugins:\n  paths: [${join(repoRoot, 'examples/expgen-plugin-text-lines')}]\n`,
    );
    const listed = await names(['--config', join(dir, 'expgen.config.yaml')]);
    assert.ok(listed.includes('expgen-plugin-text-lines') && !listed.includes('expgen-plugin-llama-3.2-1b'));
    // The plain listing says how to load them; --help does not offer their commands.
    const text = await runCli(['plugins'], { env: { EXPGEN_EXAMPLES: '' } });
    assert.match(
      text.stdout,
      /^example plugins not loaded: expgen-plugin-llama-3\.2-1b, expgen-plugin-text-lines \(EXPGEN_EXAMPLES=1 loads them/m,
    );
    const help = await runCli(['--help'], { env: { EXPGEN_EXAMPLES: '' } });
    assert.doesNotMatch(help.stdout, /text-lines/);
    assert.match(
      assertOneLineError(await runCli(['text-lines', 'stats', 'x'], { env: { EXPGEN_EXAMPLES: '' } })),
      /"text-lines" is not an expgen command/,
    );
  });

  it("a plugin's command reuses expgen's error handling (ExpgenCommand from @expgen/core/cli)", async () => {
    const missing = join(tempDir(), 'missing.txt');
    const result = await runCli(['text-lines', 'stats', missing], { env: { EXPGEN_EXAMPLES: '1' } });
    assert.equal(result.code, 2);
    assert.equal(result.stderr, `expgen: text-lines: cannot read ${missing}: it does not exist\n`);
  });
});
