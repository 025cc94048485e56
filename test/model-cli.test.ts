import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, mkdirSync, copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  generateTinyLlama,
  loadReferenceWeights,
  readLlamaConfig,
  referenceForward,
  SafetensorsStore,
  writeSafetensors,
  type ReferenceOutput,
} from '@expgen/plugin-llama/testing';
import { assertOneLineError, runCli, tempDir } from './helpers/run-cli.js';

/** `expgen model build` and `expgen model trace` as a user runs them, checked against the independent reference. */
describe('expgen model build / trace on a tiny model in the Hugging Face layout', () => {
  const dir = tempDir('expgen-model-cli-');
  const hf = join(dir, 'hf');
  const built = join(dir, 'onnx');
  const tokens = [128000, 791, 8415, 7731, 389, 279, 5634, 13];
  let reference: ReferenceOutput;

  before(async () => {
    await generateTinyLlama(hf, { seed: 11, layers: 3, shards: 2 });
    const store = await SafetensorsStore.open(hf);
    const config = await readLlamaConfig(hf);
    reference = referenceForward(config, await loadReferenceWeights(store, config), tokens);
    await store.close();
  });

  it('builds the model and records hashes and the resolved config beside it', async () => {
    const result = await runCli(['model', 'build', hf, '--out', built]);
    assert.equal(result.code, 0, result.stderr);
    const model = JSON.parse(readFileSync(join(built, 'expgen-model.json'), 'utf8'));
    assert.ok(
      model.hashes && Object.keys(model.hashes).length >= 3,
      'weights, tokenizer and config hashes are recorded',
    );
    const manifest = JSON.parse(readFileSync(join(built, 'expgen-manifest.json'), 'utf8'));
    assert.equal(manifest.command, 'model build');
    assert.ok(manifest.plugins.some((p: { name: string }) => p.name === '@expgen/plugin-llama'));
  });

  it('trace --json agrees with the reference forward on every hook and on the top logits', async () => {
    const result = await runCli(['model', 'trace', built, '--tokens', tokens.join(','), '--json']);
    assert.equal(result.code, 0, result.stderr);
    const trace = JSON.parse(result.stdout) as {
      tokens: number[];
      hooks: Record<string, number[][]>;
      top: [number, number][];
    };
    assert.deepEqual(trace.tokens, tokens);
    assert.deepEqual(Object.keys(trace.hooks).sort(), [...reference.hooks.keys()].sort(), 'every hook point is traced');
    for (const [hook, perToken] of reference.hooks) {
      perToken.forEach((expected, t) => {
        assertRelativeClose(trace.hooks[hook]![t]!, expected, 1e-4, `${hook} token ${t}`);
      });
    }
    const last = reference.logits.at(-1)!;
    const expectedTop = Array.from(last.keys())
      .sort((a, b) => last[b]! - last[a]!)
      .slice(0, 10);
    assert.deepEqual(
      trace.top.map(([id]) => id),
      expectedTop,
      'the ten highest logits, in order',
    );
    for (const [id, logit] of trace.top)
      assert.ok(Math.abs(logit - last[id]!) <= 1e-4 * Math.max(1, Math.abs(last[id]!)), `logit of ${id}`);
  });

  it('trace --hooks limits the output to the hooks asked for', async () => {
    const result = await runCli([
      'model',
      'trace',
      built,
      '--tokens',
      '128000,791',
      '--hooks',
      'mlp/0,resid/2',
      '--json',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(Object.keys(JSON.parse(result.stdout).hooks).sort(), ['mlp/0', 'resid/2']);
  });

  describe('bad input gets one clear line', () => {
    it('a hook that does not exist', async () => {
      assert.match(
        assertOneLineError(await runCli(['model', 'trace', built, '--tokens', '1,2', '--hooks', 'mlp/9'])),
        /hook "mlp\/9" does not exist/,
      );
    });
    it('a token id outside the vocabulary', async () => {
      assert.match(
        assertOneLineError(await runCli(['model', 'trace', built, '--tokens', '1,999999'])),
        /outside the vocabulary/,
      );
    });
    it('a model folder that does not exist', async () => {
      assert.match(
        assertOneLineError(await runCli(['model', 'trace', join(dir, 'nope'), '--text', 'hi'])),
        /does not exist/,
      );
    });
    it('a Hugging Face folder given where a built model is expected', async () => {
      assert.match(assertOneLineError(await runCli(['model', 'trace', hf, '--text', 'hi'])), /expgen model build/);
    });
    it('an unsupported architecture', async () => {
      const bad = join(dir, 'bad-arch');
      mkdirSync(bad, { recursive: true });
      const config = JSON.parse(readFileSync(join(hf, 'config.json'), 'utf8'));
      writeFileSync(
        join(bad, 'config.json'),
        JSON.stringify({ ...config, architectures: ['MistralForCausalLM'], model_type: 'mistral' }),
      );
      const line = assertOneLineError(await runCli(['model', 'build', bad, '--out', join(dir, 'bad-out')]));
      assert.match(line, /config\.json/);
      assert.ok(!existsSync(join(dir, 'bad-out', 'expgen-model.json')), 'nothing that looks complete is left behind');
    });
    it('a missing weight tensor names the tensor', async () => {
      const broken = join(dir, 'missing-tensor');
      mkdirSync(broken, { recursive: true });
      for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json'])
        copyFileSync(join(hf, file), join(broken, file));
      const config = await readLlamaConfig(hf);
      const store = await SafetensorsStore.open(hf);
      const names = store.names().filter((n) => n !== 'model.layers.1.mlp.up_proj.weight');
      const tensors = [];
      for (const name of names)
        tensors.push({
          name,
          dtype: 'F32' as const,
          shape: store.info(name).shape,
          data: await store.readFloat32(name),
        });
      await store.close();
      await writeSafetensors(join(broken, 'model.safetensors'), tensors);
      assert.equal(config.numLayers, 3);
      const line = assertOneLineError(await runCli(['model', 'build', broken, '--out', join(dir, 'broken-out')]));
      assert.match(line, /model\.layers\.1\.mlp\.up_proj\.weight/);
      rmSync(join(dir, 'broken-out'), { recursive: true, force: true });
    });
  });
});

function assertRelativeClose(
  actual: readonly number[],
  expected: Float32Array | Float64Array | readonly number[],
  tolerance: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: width`);
  let maxAbs = 0;
  for (const v of expected) maxAbs = Math.max(maxAbs, Math.abs(v));
  for (let i = 0; i < actual.length; i++) {
    const error = Math.abs(actual[i]! - expected[i]!);
    assert.ok(
      error <= tolerance * Math.max(Math.abs(expected[i]!), maxAbs * 1e-2, 1e-6),
      `${what}[${i}]: ${actual[i]} vs ${expected[i]} (relative error over ${tolerance})`,
    );
  }
}
