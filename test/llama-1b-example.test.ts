import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { RESULT_COLUMNS } from '@expgen/core';
import { generateTinyLlama } from '@expgen/plugin-llama/testing';
import { assertOneLineError, runCli, tempDir } from './helpers/run-cli.js';

/**
 * The example plugin for another model (examples/expgen-plugin-llama-3.2-1b) as a user of a checkout meets it:
 * found from the repository root with EXPGEN_EXAMPLES=1 and no config file, selected with one --set, its tiny random
 * twin run through `expgen run`.
 */
const examples = { env: { EXPGEN_EXAMPLES: '1' } };
describe('expgen-plugin-llama-3.2-1b through the CLI', () => {
  const dir = tempDir('expgen-llama-1b-cli-');
  const out = join(dir, 'run');
  const select = ['--set', 'subject.component=llama-3.2-1b'];
  let stdout = '';

  before(async () => {
    const result = await runCli(
      ['run', ...select, '--out', out, '--set', 'exemplars.sequences=200', '--set', 'activation.options.layers=[0]'],
      examples,
    );
    assert.equal(result.code, 0, result.stderr);
    stdout = result.stdout;
  });

  it('plugins --json lists the example and its subject-model component', async () => {
    const result = await runCli(['plugins', '--json'], examples);
    assert.equal(result.code, 0, result.stderr);
    const listing = JSON.parse(result.stdout) as {
      name: string;
      version: string;
      origin: string;
      components: { kind: string; name: string }[];
      error?: string;
    }[];
    const example = listing.find((p) => p.name === 'expgen-plugin-llama-3.2-1b');
    assert.ok(example, `the example is discovered: ${listing.map((p) => p.name).join(', ')}`);
    assert.equal(example.error, undefined);
    assert.equal(example.origin, 'node_modules');
    assert.equal(example.version, '0.1.0');
    assert.deepEqual(
      example.components.map((c) => `${c.kind}/${c.name}`),
      ['subject-model/llama-3.2-1b'],
    );
  });

  it("config fills the component's defaults: no model folder, so the twin", async () => {
    const result = await runCli(['config', '--json', ...select], examples);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout).subject, {
      component: 'llama-3.2-1b',
      options: { model: null, twin: { seed: 0 }, provider: 'cpu', deviceId: 0 },
    });
  });

  it('run writes one result row per neuron of layer 0 and sign, from the twin', () => {
    assert.match(stdout, /results: .*results\.jsonl/);
    const rows = readFileSync(join(out, 'results.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(
      rows.length,
      256 * 2,
      "the twin's intermediate size is 256 (4 x hidden 64, as 8,192 = 4 x 2,048), two signs each",
    );
    for (const row of rows) {
      assert.deepEqual(
        Object.keys(row),
        RESULT_COLUMNS.map((c) => c.name),
      );
      assert.match(row.feature as string, /^mlp\/0\/\d+$/);
      if (row.status === 'scored') assert.ok(typeof row.score === 'number' && Math.abs(row.score) <= 1);
      else assert.equal(typeof row.reason, 'string', 'a row without a score says why');
    }
    assert.ok(rows.filter((r) => r.status === 'scored').length > 100, 'most features are scored');
    const manifest = JSON.parse(readFileSync(join(out, 'expgen-manifest.json'), 'utf8')) as {
      components: { kind: string; component: string; plugin: string; settings?: Record<string, unknown> }[];
    };
    const subject = manifest.components.find((c) => c.kind === 'subject-model');
    assert.equal(subject?.component, 'llama-3.2-1b');
    assert.equal(subject?.plugin, 'expgen-plugin-llama-3.2-1b');
    assert.deepEqual(subject?.settings?.['twin'], { seed: 0 });
  });

  it('model build refuses a checkpoint of another model in one line, before converting it', async () => {
    const hf = join(dir, 'demo-hf');
    await generateTinyLlama(hf, { seed: 0, layers: 2, shards: 1 });
    const line = assertOneLineError(
      await runCli(['model', 'build', hf, '--out', join(dir, 'refused'), ...select], examples),
    );
    assert.match(
      line,
      /not meta-llama\/Llama-3\.2-1B-Instruct: num_hidden_layers 2 \(expected 16\), .*tie_word_embeddings false \(expected true\), rope_scaling\.factor 8 \(expected 32\); give a download of meta-llama\/Llama-3\.2-1B-Instruct/,
    );
  });
});
