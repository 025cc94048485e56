import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { loadSae } from './load-sae.js';
import type { SaeArchitecture } from './sae-config.js';
import { encodeSae, type SaeEncoder } from './sae-encoder.js';
import { roundToDtype, SafetensorsStore, Sfc32, writeSafetensors } from '@expgen/plugin-kit';
import { writeTinySae, type TinySaeLayout } from './tiny-sae.js';

/** Writes F32 tensors given by name, as SAELens and Llama Scope files hold them. */
const writeF32 = (path: string, tensors: Record<string, { shape: number[]; data: Float32Array }>) =>
  writeSafetensors(
    path,
    Object.entries(tensors).map(([name, t]) => ({ name, dtype: 'F32' as const, ...t })),
  );

const dir = await mkdtemp(join(tmpdir(), 'expgen-sae-load-'));
after(() => rm(dir, { recursive: true, force: true }));
let folders = 0;
const D_IN = 12;
const D_SAE = 40;

async function tinySae(layout: Partial<TinySaeLayout> = {}): Promise<string> {
  const folder = join(dir, `sae-${folders++}`);
  await writeTinySae(folder, {
    seed: 3,
    dSae: D_SAE,
    architecture: 'jumprelu',
    k: null,
    dIn: D_IN,
    layer: 2,
    ...layout,
  });
  return folder;
}

async function editConfig(
  folder: string,
  edit: (cfg: Record<string, unknown>) => void,
  file = 'cfg.json',
): Promise<void> {
  const cfg = JSON.parse(await readFile(join(folder, file), 'utf8')) as Record<string, unknown>;
  edit(cfg);
  await writeFile(join(folder, file), JSON.stringify(cfg));
}

const rejectsWith = (promise: Promise<unknown>, pattern: RegExp) =>
  assert.rejects(promise, (error: unknown) => {
    assert.ok(isExpgenError(error), `not an ExpgenError: ${String(error)}`);
    assert.match((error as Error).message, pattern);
    assert.ok(!(error as Error).message.includes('\n'), 'one line');
    return true;
  });

/**
 * SAELens' encode written out naively, per token and latent, independently of the blocked host encoder: normalize,
 * subtract b_dec, x W_enc + b_enc, then the architecture's activation (TopK by a full stable sort).
 */
function naiveEncode(sae: SaeEncoder, x: Float32Array, rows: number): Float64Array {
  const { dIn, dSae } = sae;
  const out = new Float64Array(rows * dSae);
  for (let r = 0; r < rows; r++) {
    let v = Array.from(x.subarray(r * dIn, (r + 1) * dIn), Number);
    const n = sae.normalization;
    if (n.kind === 'expected_average_only_in') v = v.map((a) => a * n.factor);
    if (n.kind === 'constant_norm_rescale') {
      const norm = Math.hypot(...v);
      v = v.map((a) => (a * Math.sqrt(dIn)) / norm);
    }
    if (n.kind === 'layer_norm') {
      const mean = v.reduce((a, b) => a + b, 0) / dIn;
      const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (dIn - 1));
      v = v.map((a) => (a - mean) / (std + n.eps));
    }
    if (sae.applyBDecToInput) v = v.map((a, i) => a - sae.bDec![i]!);
    const pre = Array.from({ length: dSae }, (_, j) =>
      v.reduce((sum, a, i) => sum + a * sae.wEncT[j * dIn + i]!, sae.bEnc[j]!),
    );
    let acts: number[];
    if (sae.architecture === 'standard') acts = pre.map((p) => Math.max(0, p));
    else if (sae.architecture === 'jumprelu') acts = pre.map((p, j) => (p > sae.threshold![j]! ? Math.max(0, p) : 0));
    else {
      const keep = new Set(
        pre
          .map((p, j) => [p, j] as const)
          .sort((a, b) => b[0] - a[0] || a[1] - b[1])
          .slice(0, sae.k!)
          .map(([, j]) => j),
      );
      acts = pre.map((p, j) => (keep.has(j) ? Math.max(0, p) : 0));
    }
    out.set(acts, r * dSae);
  }
  return out;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    assert.ok(Math.abs(a - e) <= tolerance * Math.max(1, Math.abs(e)), `${what}[${i}]: ${a} vs ${e}`);
  }
}

const ROWS = 6;
const hookValues = new Sfc32(99).normals(ROWS * D_IN, 2);

describe('loading SAELens-format SAEs', () => {
  const architectures: SaeArchitecture[] = ['standard', 'jumprelu', 'topk'];
  const normalizations = ['none', 'expected_average_only_in', 'constant_norm_rescale', 'layer_norm'] as const;
  for (const architecture of architectures) {
    for (const applyBDecToInput of [true, false]) {
      for (const normalizeActivations of normalizations) {
        it(`${architecture}, b_dec ${applyBDecToInput ? 'subtracted' : 'kept'}, normalization ${normalizeActivations}: encodes as SAELens does`, async () => {
          const folder = await tinySae({
            architecture,
            applyBDecToInput,
            normalizeActivations,
            normScalingFactor: 1.7,
            k: 5,
          });
          const { spec, encoder } = await loadSae(folder);
          assert.equal(spec.format, 'saelens');
          assert.equal(spec.architecture, architecture);
          assert.equal(spec.dIn, D_IN);
          assert.equal(spec.dSae, D_SAE);
          assert.equal(spec.hookName, 'blocks.2.hook_resid_post');
          assert.equal(spec.hookLayer, 2);
          assert.equal(encoder.applyBDecToInput, applyBDecToInput);
          assert.equal(encoder.normalization.kind, normalizeActivations);
          if (normalizeActivations === 'expected_average_only_in')
            assert.equal((encoder.normalization as { factor: number }).factor, 1.7);
          assert.equal(encoder.k, architecture === 'topk' ? 5 : null);
          assert.equal(encoder.threshold !== null, architecture === 'jumprelu');
          const file = await SafetensorsStore.open(join(folder, 'sae_weights.safetensors'));
          const wEnc = await file.readFloat32('W_enc');
          await file.close();
          for (let i = 0; i < D_IN; i++)
            for (let j = 0; j < D_SAE; j++) assert.equal(encoder.wEncT[j * D_IN + i], wEnc[i * D_SAE + j]);
          const latents = encodeSae(encoder, hookValues, ROWS);
          assertClose(latents, naiveEncode(encoder, hookValues, ROWS), 1e-5, 'latents');
          const active = latents.filter((v) => v > 0).length;
          assert.ok(
            active > 0 && active < latents.length,
            `some latents fire, not all (${active} of ${latents.length})`,
          );
          if (architecture === 'topk')
            for (let r = 0; r < ROWS; r++)
              assert.ok(latents.subarray(r * D_SAE, (r + 1) * D_SAE).filter((v) => v !== 0).length <= 5);
        });
      }
    }
  }

  it('reads BF16 and F16 weights as stored, and gives NaN for rows with a NaN (padded positions)', async () => {
    for (const dtype of ['BF16', 'F16'] as const) {
      const folder = await tinySae({ dtype });
      const { encoder } = await loadSae(folder);
      const file = await SafetensorsStore.open(join(folder, 'sae_weights.safetensors'));
      assert.equal(file.info('W_enc').dtype, dtype);
      await file.close();
      const reference = await loadSae(await tinySae({ dtype: 'F32' }));
      assert.deepEqual(encoder.wEncT, roundToDtype(reference.encoder.wEncT, dtype));
      assert.deepEqual(encoder.threshold, roundToDtype(reference.encoder.threshold!, dtype));
    }
    const { encoder } = await loadSae(await tinySae());
    const x = hookValues.slice();
    x[D_IN + 3] = NaN;
    const latents = encodeSae(encoder, x, ROWS);
    assert.ok(latents.subarray(D_SAE, 2 * D_SAE).every(Number.isNaN));
    assert.ok(latents.subarray(0, D_SAE).every((v) => !Number.isNaN(v)));
  });

  it('reads older SAELens configs: hook_point, activation_fn_str "topk" with activation_fn_kwargs.k, boolean normalize_activations', async () => {
    const folder = await tinySae({
      architecture: 'topk',
      k: 7,
      legacyConfig: true,
      normalizeActivations: 'expected_average_only_in',
      normScalingFactor: 0.5,
    });
    const { spec, encoder } = await loadSae(folder);
    assert.equal(spec.architecture, 'topk');
    assert.equal(spec.k, 7);
    assert.equal(spec.hookName, 'blocks.2.hook_resid_post');
    assert.equal(spec.hookLayer, 2);
    assert.deepEqual(encoder.normalization, { kind: 'expected_average_only_in', factor: 0.5 });
    const plain = await loadSae(
      await tinySae({ architecture: 'topk', k: 7, legacyConfig: true, normalizeActivations: 'none' }),
    );
    assert.equal(plain.encoder.normalization.kind, 'none');
  });

  it('takes the expected-average factor from the options when cfg.json lacks it, and names the fix when neither has it', async () => {
    const folder = await tinySae({ normalizeActivations: 'expected_average_only_in' });
    await editConfig(folder, (cfg) => delete cfg['norm_scaling_factor']);
    await rejectsWith(
      loadSae(folder),
      /cfg\.json: "normalize_activations" is "expected_average_only_in" but no "norm_scaling_factor" is given: add it .*or set the normScalingFactors option/,
    );
    const { encoder } = await loadSae(folder, { normScalingFactor: 2.5 });
    assert.deepEqual(encoder.normalization, { kind: 'expected_average_only_in', factor: 2.5 });
  });
});

describe('loading Llama Scope SAEs as released', () => {
  /** Writes the SAELens-layout SAE at `source` in Llama Scope's layout: hyperparams.json + checkpoints/final.safetensors. */
  async function asLlamaScope(
    source: string,
    options: { threshold: 'scalar' | 'log-tensor'; averageNorm: number },
  ): Promise<{ folder: string; thresholdValue: number }> {
    const folder = join(dir, `Llama3_1-8B-Base-L2R-8x-${folders++}`);
    await mkdir(join(folder, 'checkpoints'), { recursive: true });
    const file = await SafetensorsStore.open(join(source, 'sae_weights.safetensors'));
    const wEnc = await file.readFloat32('W_enc');
    const wDec = await file.readFloat32('W_dec');
    const bEnc = await file.readFloat32('b_enc');
    const bDec = await file.readFloat32('b_dec');
    await file.close();
    // Llama Scope stores nn.Linear weights: encoder [d_sae, d_in], decoder [d_in, d_sae].
    const encoderWeight = new Float32Array(D_SAE * D_IN);
    const decoderWeight = new Float32Array(D_IN * D_SAE);
    for (let i = 0; i < D_IN; i++) {
      for (let j = 0; j < D_SAE; j++) {
        encoderWeight[j * D_IN + i] = wEnc[i * D_SAE + j]!;
        decoderWeight[i * D_SAE + j] = wDec[j * D_IN + i]!;
      }
    }
    const thresholdValue = 0.75;
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {
      'encoder.weight': { shape: [D_SAE, D_IN], data: encoderWeight },
      'encoder.bias': { shape: [D_SAE], data: bEnc },
      'decoder.weight': { shape: [D_IN, D_SAE], data: decoderWeight },
      'decoder.bias': { shape: [D_IN], data: bDec },
    };
    if (options.threshold === 'log-tensor')
      tensors['log_jumprelu_threshold'] = {
        shape: [D_SAE],
        data: new Float32Array(D_SAE).fill(Math.log(thresholdValue)),
      };
    await writeF32(join(folder, 'checkpoints', 'final.safetensors'), tensors);
    await writeFile(
      join(folder, 'hyperparams.json'),
      JSON.stringify({
        hook_point_in: 'blocks.2.hook_resid_post',
        hook_point_out: 'blocks.2.hook_resid_post',
        d_model: D_IN,
        d_sae: D_SAE,
        act_fn: 'jumprelu',
        ...(options.threshold === 'scalar' ? { jump_relu_threshold: thresholdValue } : {}),
        norm_activation: 'dataset-wise',
        dataset_average_activation_norm: { in: options.averageNorm, out: options.averageNorm },
        apply_decoder_bias_to_pre_encoder: false,
        use_decoder_bias: true,
        sparsity_include_decoder_norm: true,
        dtype: 'torch.bfloat16',
      }),
    );
    return { folder, thresholdValue };
  }

  for (const threshold of ['scalar', 'log-tensor'] as const) {
    it(`reads hyperparams.json with a ${threshold} threshold and dataset-wise normalization, as SAELens converts it`, async () => {
      const source = await tinySae({ applyBDecToInput: false, normalizeActivations: 'none' });
      const { folder, thresholdValue } = await asLlamaScope(source, { threshold, averageNorm: 6 });
      const scope = await loadSae(folder);
      assert.equal(scope.spec.format, 'llama-scope');
      assert.equal(scope.spec.architecture, 'jumprelu');
      assert.equal(scope.spec.hookName, 'blocks.2.hook_resid_post');
      assert.equal(scope.encoder.applyBDecToInput, false);
      assert.deepEqual(scope.encoder.normalization, { kind: 'expected_average_only_in', factor: Math.sqrt(D_IN) / 6 });
      const reference = await loadSae(source);
      assert.deepEqual(scope.encoder.wEncT, reference.encoder.wEncT, 'encoder.weight is W_enc transposed');
      assertClose(scope.encoder.threshold!, new Float32Array(D_SAE).fill(thresholdValue), 1e-6, 'threshold');
      const expected = naiveEncode(
        { ...reference.encoder, normalization: scope.encoder.normalization, threshold: scope.encoder.threshold },
        hookValues,
        ROWS,
      );
      assertClose(encodeSae(scope.encoder, hookValues, ROWS), expected, 1e-5, 'latents');
    });
  }

  it('refuses a transcoder and a missing normalization constant by file and key', async () => {
    const source = await tinySae({ applyBDecToInput: false, normalizeActivations: 'none' });
    const { folder } = await asLlamaScope(source, { threshold: 'scalar', averageNorm: 6 });
    await editConfig(folder, (cfg) => delete cfg['dataset_average_activation_norm'], 'hyperparams.json');
    await rejectsWith(
      loadSae(folder),
      /hyperparams\.json: "norm_activation" is "dataset-wise" but "dataset_average_activation_norm" has no "in" entry/,
    );
    await editConfig(folder, (cfg) => (cfg['hook_point_out'] = 'blocks.2.hook_mlp_out'), 'hyperparams.json');
    await rejectsWith(loadSae(folder), /hyperparams\.json: "hook_point_out" .* transcoders are not supported/);
  });
});

describe('SAE loading errors', () => {
  it('names the file, key or tensor at fault, on one line', async () => {
    const cases: [string, (folder: string) => Promise<void>, RegExp][] = [
      [
        'unknown architecture',
        (f) => editConfig(f, (c) => (c['architecture'] = 'gated')),
        /cfg\.json: architecture "gated" is not supported; the sae source encodes "standard" \(ReLU\), "jumprelu" and "topk" SAEs/,
      ],
      [
        'unknown activation',
        (f) => editConfig(f, (c) => (c['activation_fn'] = 'tanh-relu')),
        /cfg\.json: activation function "tanh-relu" is not supported/,
      ],
      [
        'unknown normalization',
        (f) => editConfig(f, (c) => (c['normalize_activations'] = 'batch_norm')),
        /cfg\.json: "normalize_activations" "batch_norm" is not supported/,
      ],
      [
        'd_in missing',
        (f) => editConfig(f, (c) => delete c['d_in']),
        /cfg\.json: "d_in" must be a positive integer, got nothing/,
      ],
      [
        'd_in differs from W_enc',
        (f) => editConfig(f, (c) => (c['d_in'] = 16)),
        /sae_weights\.safetensors: tensor "W_enc" has shape \[12, 40\] but d_in x d_sae in .*cfg\.json needs \[16, 40\]/,
      ],
      [
        'd_sae differs from b_enc',
        (f) => editConfig(f, (c) => (c['d_sae'] = 41)),
        /tensor "W_enc" has shape \[12, 40\] but d_in x d_sae .* needs \[12, 41\]/,
      ],
      [
        'head index',
        (f) => editConfig(f, (c) => ((c['metadata'] as Record<string, unknown>)['hook_head_index'] = 3)),
        /cfg\.json: "hook_head_index" is 3; SAEs on one attention head are not supported/,
      ],
      [
        'k above d_sae',
        (f) => editConfig(f, (c) => Object.assign(c, { architecture: 'topk', k: 41 })),
        /cfg\.json: "k" is 41, more than d_sae \(40\)/,
      ],
      [
        'topk without k',
        (f) => editConfig(f, (c) => (c['architecture'] = 'topk')),
        /cfg\.json: "k" must be a positive integer, got nothing/,
      ],
      [
        'weights missing',
        (f) => rm(join(f, 'sae_weights.safetensors')),
        /sae_weights\.safetensors is missing: the SAE in .* needs its weights beside cfg\.json/,
      ],
      ['not JSON', (f) => writeFile(join(f, 'cfg.json'), '{ d_in: 12'), /cfg\.json is not valid JSON/],
    ];
    for (const [what, breakIt, pattern] of cases) {
      const folder = await tinySae();
      await breakIt(folder);
      await rejectsWith(loadSae(folder), pattern).catch((error: unknown) =>
        assert.fail(`${what}: ${(error as Error).message}`),
      );
    }
  });

  it('names the missing tensor: threshold of a jumprelu SAE, b_dec the config asks to subtract, W_enc', async () => {
    const rewrite = async (folder: string, drop: string) => {
      const path = join(folder, 'sae_weights.safetensors');
      const file = await SafetensorsStore.open(path);
      const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
      for (const name of file.names())
        if (name !== drop) tensors[name] = { shape: file.info(name).shape, data: await file.readFloat32(name) };
      await file.close();
      await writeF32(path, tensors);
    };
    const noThreshold = await tinySae();
    await rewrite(noThreshold, 'threshold');
    await rejectsWith(
      loadSae(noThreshold),
      /sae_weights\.safetensors: tensor "threshold" \[40\] is missing; a jumprelu SAE needs its per-latent thresholds/,
    );
    const noBDec = await tinySae({ applyBDecToInput: true });
    await rewrite(noBDec, 'b_dec');
    await rejectsWith(loadSae(noBDec), /tensor "b_dec" is missing, and .*cfg\.json asks to subtract it from the input/);
    const noWEnc = await tinySae();
    await rewrite(noWEnc, 'W_enc');
    await rejectsWith(loadSae(noWEnc), /tensor "W_enc" is missing \(the file has b_enc, W_dec, b_dec, threshold\)/);
  });
});
