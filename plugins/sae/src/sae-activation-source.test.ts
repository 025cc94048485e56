import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isExpgenError, type ActivationSource, type ComponentContext, type SubjectModel } from '@expgen/contract';
import { memoryLogger, fakeSubjectModel } from '@expgen/contract/testing';
import plugin from './index.js';
import { openTinyLlamaSubject, sampleBatch, TINY_LLAMA } from './llama-subject.test-util.js';
import { loadSae } from './load-sae.js';
import { encodeSae } from './sae-encoder.js';
import { writeTinySae, type TinySaeLayout } from './tiny-sae.js';

const dir = await mkdtemp(join(tmpdir(), 'expgen-sae-source-'));
after(() => rm(dir, { recursive: true, force: true }));
const D_IN = 12;
const declaration = plugin.components[0]!;
let count = 0;

function context(subject: SubjectModel, cacheDir = join(dir, 'cache')): ComponentContext {
  return {
    provenance: {
      kind: 'activation-source',
      component: 'sae',
      plugin: plugin.meta.name,
      pluginVersion: plugin.meta.version,
    },
    baseDir: dir,
    cacheDir,
    logger: memoryLogger(),
    subject,
  };
}

async function createSource(
  options: Record<string, unknown>,
  subject: SubjectModel = fakeSubjectModel({ layers: 3, residWidth: D_IN }),
): Promise<ActivationSource> {
  return (await declaration.create(
    declaration.options.parse(options, ['activation', 'options']),
    context(subject),
  )) as ActivationSource;
}

/** A folder of per-layer SAEs in the SAELens layout. */
async function saeRoot(layers: Record<string, Partial<TinySaeLayout> & { layer: number }>): Promise<string> {
  const root = join(dir, `saes-${count++}`);
  for (const [name, layout] of Object.entries(layers)) {
    await writeTinySae(join(root, name), {
      seed: layout.layer,
      dSae: 20,
      architecture: 'jumprelu',
      k: null,
      dIn: D_IN,
      ...layout,
    });
  }
  return root;
}

async function editConfig(folder: string, edit: (cfg: Record<string, unknown>) => void): Promise<void> {
  const cfg = JSON.parse(await readFile(join(folder, 'cfg.json'), 'utf8')) as Record<string, unknown>;
  edit(cfg);
  await writeFile(join(folder, 'cfg.json'), JSON.stringify(cfg));
}

const rejectsWith = (promise: Promise<unknown>, pattern: RegExp) =>
  assert.rejects(promise, (error: unknown) => {
    assert.ok(isExpgenError(error), `not an ExpgenError: ${String(error)}`);
    assert.match((error as Error).message, pattern);
    assert.ok(!(error as Error).message.includes('\n'), 'one line');
    return true;
  });

describe('the sae activation source', () => {
  it('reads a folder of per-layer SAELens folders: one layer per SAE, keyed sae:<folder name>, positive sign', async () => {
    const root = await saeRoot({ 'layer-0': { layer: 0 }, 'layer-2': { layer: 2, architecture: 'topk', k: 3 } });
    const source = await createSource({ path: root });
    assert.equal(source.space, `sae:${root.split('/').at(-1)}`);
    assert.deepEqual(source.signs, ['positive']);
    assert.deepEqual(source.layers(), [0, 2]);
    const plan = source.plan(2);
    assert.equal(plan.hook, 'resid/2');
    assert.equal(plan.hookWidth, D_IN);
    assert.equal(plan.width, 20);
    assert.equal(plan.fragment?.inputWidth, D_IN);
    assert.equal(plan.fragment?.outputWidth, 20);
    assert.ok(plan.fragment!.nodes.some((n) => n.op === 'TopK'));
    const values = Float32Array.from({ length: 4 * D_IN }, (_, i) => Math.sin(i) * 3);
    const { encoder } = await loadSae(join(root, 'layer-2'));
    assert.deepEqual(source.encode(2, values, 4), encodeSae(encoder, values, 4));
    assert.throws(() => source.plan(1), /layer 1 is not read by the "sae:saes-\d+" activation source \(layers: 0, 2\)/);
    const settings = source.provenance.settings as Record<string, unknown>;
    assert.deepEqual(settings['layers'], [0, 2]);
    assert.equal((settings['saes'] as Record<string, { architecture: string; k: number }>)['2']!.architecture, 'topk');
  });

  it('takes a name, a subset of layers, a single SAE folder, and layers from Llama Scope-style folder names', async () => {
    const root = await saeRoot({ 'Llama3_1-8B-Base-L0R-8x': { layer: 0 }, 'Llama3_1-8B-Base-L1R-8x': { layer: 1 } });
    // Configs that name no hook: the layer comes from the folder name, the hook defaults to the residual stream.
    for (const layer of [0, 1]) {
      await editConfig(join(root, `Llama3_1-8B-Base-L${layer}R-8x`), (cfg) => delete cfg['metadata']);
    }
    const source = await createSource({ path: root, name: 'scope', layers: [1] });
    assert.equal(source.space, 'sae:scope');
    assert.deepEqual(source.layers(), [1]);
    assert.equal(source.plan(1).hook, 'resid/1');
    const single = await createSource({ path: join(root, 'Llama3_1-8B-Base-L0R-8x') });
    assert.equal(single.space, 'sae:Llama3_1-8B-Base-L0R-8x');
    assert.deepEqual(single.layers(), [0]);
  });

  it("maps hook_resid_pre to the previous layer's output, keyed by the SAE's own layer; a hook template overrides configs", async () => {
    const root = await saeRoot({ a: { layer: 2 } });
    await editConfig(join(root, 'a'), (cfg) =>
      Object.assign(cfg['metadata'] as object, { hook_name: 'blocks.2.hook_resid_pre' }),
    );
    const source = await createSource({ path: root });
    assert.deepEqual(source.layers(), [2]);
    assert.equal(source.plan(2).hook, 'resid/1');
    const overridden = await createSource({ path: root, hook: 'blocks.{layer}.hook_resid_post' });
    assert.equal(overridden.plan(2).hook, 'resid/2');
  });

  it('applies normScalingFactors per layer to expected_average_only_in SAEs whose config lacks the factor', async () => {
    const root = await saeRoot({ 'layer-1': { layer: 1, normalizeActivations: 'expected_average_only_in' } });
    await editConfig(join(root, 'layer-1'), (cfg) => delete cfg['norm_scaling_factor']);
    await rejectsWith(
      createSource({ path: root }),
      /layer-1\/cfg\.json: "normalize_activations" is "expected_average_only_in" but no "norm_scaling_factor" is given: .*or set activation\.options\.normScalingFactors\.1$/,
    );
    const source = await createSource({ path: root, normScalingFactors: { 1: 4 } });
    const settings = source.provenance.settings as { saes: Record<string, { normalization: unknown }> };
    assert.deepEqual(settings.saes['1']!.normalization, { kind: 'expected_average_only_in', factor: 4 });
  });

  it('refuses what cannot work with one line naming the file, key or layer', async () => {
    const root = await saeRoot({ 'layer-0': { layer: 0 }, 'layer-2': { layer: 2 } });
    await rejectsWith(
      createSource({ path: root, layers: [0, 1] }),
      /activation\.options\.layers: no SAE for layer 1 under .* \(SAEs found for layers: 0, 2\)/,
    );
    await rejectsWith(
      createSource({ path: join(dir, 'nowhere') }),
      /activation\.options\.path: folder .*nowhere does not exist/,
    );
    await mkdir(join(dir, 'empty'), { recursive: true });
    await rejectsWith(createSource({ path: join(dir, 'empty') }), /activation\.options\.path: .*empty holds no SAE/);
    assert.throws(
      () => declaration.options.parse({ path: root, name: 'no spaces' }, ['activation', 'options']),
      /activation\.options\.name: expected letters, digits/,
    );
    // d_in against the hook width: the subject's mlp hooks are 8 wide.
    await rejectsWith(
      createSource({ path: root, hook: 'mlp/{layer}' }),
      /layer-0\/cfg\.json: d_in is 12 but hook "mlp\/0" of the subject has 8 values per token/,
    );
    const wide = await createSource({ path: root }, fakeSubjectModel({ layers: 3, residWidth: 16 })).catch(
      (error: Error) => error,
    );
    assert.match(
      (wide as Error).message,
      /d_in is 12 but hook "resid\/0" of the subject has 16 values per token; this SAE was trained on another model or hook/,
    );
    const mlpOut = await saeRoot({ 'layer-1': { layer: 1 } });
    await editConfig(join(mlpOut, 'layer-1'), (cfg) =>
      Object.assign(cfg['metadata'] as object, { hook_name: 'blocks.1.hook_mlp_out' }),
    );
    await rejectsWith(
      createSource({ path: mlpOut }),
      /cfg\.json: hook "blocks\.1\.hook_mlp_out": the MLP's output \(hook_mlp_out\) is not a hook point of expgen subjects/,
    );
    const twice = await saeRoot({ x: { layer: 1 }, y: { layer: 1 } });
    await rejectsWith(
      createSource({ path: twice }),
      /activation\.options\.path: two SAEs for layer 1: .*\/x and .*\/y/,
    );
    const far = await saeRoot({ 'layer-7': { layer: 7 } });
    await rejectsWith(
      createSource({ path: far }),
      /cfg\.json: the SAE reads hook "resid\/7", which the subject does not expose/,
    );
  });

  it('generates the tiny SAE on every resid layer when path is null, once per cache', async () => {
    const cacheDir = join(dir, 'tiny-cache');
    const subject = fakeSubjectModel({ layers: 2, residWidth: 6 });
    const options = declaration.options.parse({}, ['activation', 'options']);
    const first = (await declaration.create(options, context(subject, cacheDir))) as ActivationSource;
    assert.equal(first.space, 'sae:tiny');
    assert.deepEqual(first.layers(), [0, 1]);
    assert.equal(first.plan(1).width, 128);
    assert.equal(first.plan(1).hookWidth, 6);
    const root = (await import('node:fs')).readdirSync(join(cacheDir, 'saes'));
    assert.equal(root.length, 1);
    const weights = join(cacheDir, 'saes', root[0]!, 'layer-1', 'sae_weights.safetensors');
    assert.ok(existsSync(join(cacheDir, 'saes', root[0]!, 'layer-1', 'cfg.json')));
    const written = (await stat(weights)).mtimeMs;
    const again = (await declaration.create(options, context(subject, cacheDir))) as ActivationSource;
    assert.equal((await stat(weights)).mtimeMs, written, 'the cached SAE is reused');
    const values = Float32Array.from({ length: 3 * 6 }, (_, i) => Math.cos(i));
    assert.deepEqual(again.encode(1, values, 3), first.encode(1, values, 3));
    const topk = (await declaration.create(
      declaration.options.parse({ layers: [1], tiny: { architecture: 'topk', dSae: 32, seed: 2 } }, []),
      context(subject, cacheDir),
    )) as ActivationSource;
    assert.deepEqual(topk.layers(), [1]);
    assert.equal(topk.plan(1).width, 32);
    await rejectsWith(
      declaration.create(declaration.options.parse({ layers: [5] }, []), context(subject, cacheDir)),
      /activation\.options\.layers: layer 5 does not exist in the subject \(layers 0\.\.1\)/,
    );
  });
});

describe('the sae activation source on the Llama subject', () => {
  it("plans fragments the subject runs in its graph, agreeing with the source's host encode on real hook values", async () => {
    const cacheDir = join(dir, 'llama-cache');
    const subject = await openTinyLlamaSubject(cacheDir);
    try {
      const options = declaration.options.parse({ tiny: { seed: 1, dSae: 64, architecture: 'standard' } }, []);
      const source = (await declaration.create(options, context(subject, cacheDir))) as ActivationSource;
      assert.deepEqual(source.layers(), [0, 1]);
      assert.ok(subject.runsGraphFragments);
      const request = sampleBatch(subject);
      const rows = request.batch * request.seqLen;
      const plans = source.layers().map((layer) => source.plan(layer));
      const result = await subject.forward({
        ...request,
        hooks: plans.flatMap((plan) => [
          { hook: plan.hook, reduce: 'full' as const },
          { hook: plan.hook, reduce: 'full' as const, fragment: plan.fragment! },
        ]),
      });
      plans.forEach((plan, i) => {
        assert.equal(plan.hookWidth, TINY_LLAMA.hiddenSize);
        const expected = source.encode(plan.layer, result.hooks[2 * i]!.full!, rows);
        const actual = result.hooks[2 * i + 1]!.full!;
        let firing = 0;
        for (let j = 0; j < expected.length; j++) {
          const e = expected[j]!;
          if (Number.isNaN(e)) {
            assert.ok(Number.isNaN(actual[j]!), 'padded positions are NaN');
            continue;
          }
          if (e > 0) firing++;
          assert.ok(
            Math.abs(actual[j]! - e) <= 1e-4 * Math.max(1, Math.abs(e)),
            `layer ${plan.layer} [${j}]: ${actual[j]} vs ${e}`,
          );
        }
        assert.ok(firing > 0, `layer ${plan.layer}: some latents fire`);
      });
    } finally {
      await subject.dispose?.();
    }
  });
});
