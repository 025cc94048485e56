import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { RESULT_COLUMNS } from '@expgen/core';
import { assertOneLineError, runCli, tempDir } from './helpers/run-cli.js';

/** `expgen run --plugin sae` on the embedded default: the tiny SAE generated for the tiny model, on every layer. */
describe('expgen run --plugin sae', () => {
  const dir = tempDir('expgen-sae-cli-');
  const out = join(dir, 'run');
  let stdout = '';

  before(async () => {
    const result = await runCli(['run', '--plugin', 'sae', '--out', out, '--set', 'exemplars.sequences=200']);
    assert.equal(result.code, 0, result.stderr);
    stdout = result.stdout;
  });

  function readRows(): Record<string, unknown>[] {
    return readFileSync(join(out, 'results.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  it('describes SAE latents keyed sae:<name>/<layer>/<index>, positive sign only, on every layer', () => {
    assert.match(stdout, /mean score, test split \(95% CI\)/);
    const rows = readRows();
    assert.equal(rows.length, 2 * 128, 'two layers of the tiny model, 128 latents each, one sign');
    const layers = new Set<string>();
    for (const row of rows) {
      assert.deepEqual(
        Object.keys(row),
        RESULT_COLUMNS.map((c) => c.name),
      );
      const match = /^sae:tiny\/(\d+)\/(\d+)$/.exec(row.feature as string);
      assert.ok(match, `feature key ${String(row.feature)}`);
      assert.ok(Number(match[2]) < 128);
      layers.add(match[1]!);
      assert.equal(row.sign, 'positive');
    }
    assert.deepEqual([...layers].sort(), ['0', '1']);
    assert.ok(
      rows.filter((r) => r.status === 'scored').length > 20,
      'latents fire on the corpus, so many are described and scored',
    );
    assert.ok(existsSync(join(out, 'features', 'sae~tiny', 'layer-01')), 'per-feature detail under the space folder');
  });

  it('records the SAE behind the features in the run manifest', () => {
    const manifest = JSON.parse(readFileSync(join(out, 'expgen-manifest.json'), 'utf8')) as {
      config: { activation: { component: string } };
      plugins: { name: string }[];
    };
    assert.equal(manifest.config.activation.component, 'sae');
    assert.ok(manifest.plugins.some((p) => p.name === '@expgen/plugin-sae'));
    const text = JSON.stringify(manifest);
    assert.match(text, /"architecture":"jumprelu"/);
    assert.match(text, /"hook":"resid\/1"/);
  });

  it('validates configs/sae.yaml, the Llama Scope example, against the sae component', async () => {
    const result = await runCli(['config', '--config', 'configs/sae.yaml', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const config = JSON.parse(result.stdout) as {
      activation: { component: string; options: { name: string; layers: number[] } };
    };
    assert.equal(config.activation.component, 'sae');
    assert.equal(config.activation.options.name, 'llama-scope-lxr-8x');
    assert.deepEqual(config.activation.options.layers, [15]);
  });

  it('reports an SAE folder that is not there in one line', async () => {
    const result = await runCli([
      'run',
      '--plugin',
      'sae',
      '--out',
      join(dir, 'missing'),
      '--set',
      `activation.options.path=${join(dir, 'no-such-sae')}`,
    ]);
    assert.match(assertOneLineError(result), /activation\.options\.path: folder .*no-such-sae does not exist/);
  });
});
