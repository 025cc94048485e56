// Plugins written against @expgen/contract alone (test/fixtures/plugins, plain ESM a user could write in an
// afternoon), taken through everything a third party meets: discovery from plugins.paths, `expgen run`, the contract
// suite, and an error line that names the plugin when one of its methods throws.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { assertOneLineError, repoRoot, runCli, tempDir } from './helpers/run-cli.js';

const fixtures = join(repoRoot, 'test', 'fixtures', 'plugins');
const plugin = (file: string) => join(fixtures, file);

/** Runs the contract suite on a plugin module in its own process, as a plugin's test file would. */
function contractSuiteOn(file: string): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [plugin('run-contract-suite.mjs'), plugin(file)], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('a scratch activation-source plugin written against the contract package alone', () => {
  const dir = tempDir('expgen-scratch-');
  const config = join(dir, 'expgen.config.yaml');
  const out = join(dir, 'run');
  const small = ['--set', 'exemplars.sequences=200', '--set', 'activation.options.layers=[1]'];

  before(() => {
    const paths = ['scratch-relu.mjs', 'scratch-neg.mjs', 'scratch-throwing-describer.mjs'].map(plugin);
    writeFileSync(config, `plugins:\n  paths: ${JSON.stringify(paths)}\n`);
  });

  it('is discovered from plugins.paths', async () => {
    const result = await runCli(['plugins', '--json', '--config', config]);
    assert.equal(result.code, 0, result.stderr);
    const listing = JSON.parse(result.stdout) as { name: string; components: { kind: string; name: string }[] }[];
    const found = listing.find((p) => p.name === 'expgen-plugin-scratch-relu');
    assert.deepEqual(
      found?.components.map((c) => `${c.kind}/${c.name}`),
      ['activation-source/relu-resid'],
    );
  });

  it('runs in expgen run, its fragment inside the Llama subject graph', async () => {
    const result = await runCli(['run', '--config', config, '--plugin', 'relu-resid', '--out', out, ...small]);
    assert.equal(result.code, 0, result.stderr);
    const rows = readFileSync(join(out, 'results.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { feature: string; sign: string; status: string });
    assert.equal(rows.length, 64, "the tiny model's 64 residual dimensions of layer 1, positive sign only");
    for (const row of rows) {
      assert.match(row.feature, /^relu-resid\/1\/\d+$/);
      assert.equal(row.sign, 'positive');
    }
    assert.ok(
      rows.some((r) => r.status === 'scored'),
      'features were described and scored',
    );
    const manifest = JSON.parse(readFileSync(join(out, 'expgen-manifest.json'), 'utf8')) as {
      components: { kind: string; plugin: string }[];
    };
    assert.ok(
      manifest.components.some((c) => c.kind === 'activation-source' && c.plugin === 'expgen-plugin-scratch-relu'),
    );
  });

  it('passes the contract suite', () => {
    const { status, output } = contractSuiteOn('scratch-relu.mjs');
    assert.equal(status, 0, output);
    assert.match(output, /activation-source\/relu-resid honours the activation-source contract/);
  });

  it('while one whose fragment disagrees with its encode fails it', () => {
    const { status, output } = contractSuiteOn('scratch-neg.mjs');
    assert.equal(status, 1, output);
    assert.match(output, /graph fragment "relu_resid_l0" vs encode: \d+ of \d+ values disagree/);
  });

  it('a describer that throws from describe produces one error line naming it', async () => {
    // Stage 2 over the finished exemplars of the run above, with the scratch describer that fails every request.
    const result = await runCli([
      'describe',
      '--config',
      config,
      '--plugin',
      'relu-resid',
      '--describer',
      'throwing',
      '--exemplars',
      out,
      '--out',
      join(dir, 'describe'),
      ...small,
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(
      assertOneLineError(result),
      'expgen: describer throwing (expgen-plugin-scratch-throwing) describe: the explainer endpoint answered 503 Service Unavailable (set EXPGEN_DEBUG=1 for the stack trace)',
    );
  });
});
