// A tiny SAE generated from a seed, written in SAELens' published layout (cfg.json + sae_weights.safetensors) and
// loaded through the same loader as downloaded SAEs: the embedded default and the tests need no downloads.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { produceFolderOnce, Sfc32, writeSafetensors, type SafetensorsDtype } from '@expgen/plugin-kit';
import type { SaeArchitecture } from './sae-config.js';

export interface TinySaeOptions {
  readonly seed: number;
  readonly dSae: number;
  readonly architecture: SaeArchitecture;
  /** Latents kept per token for `topk` (null: d_sae / 16). */
  readonly k: number | null;
}

/** What one generated SAE looks like; tests vary every field, the default SAE uses `tinySaeFiles` defaults. */
export interface TinySaeLayout extends TinySaeOptions {
  readonly dIn: number;
  readonly layer: number;
  readonly applyBDecToInput?: boolean;
  readonly normalizeActivations?: 'none' | 'expected_average_only_in' | 'constant_norm_rescale' | 'layer_norm';
  /** Written into cfg.json for `expected_average_only_in`. */
  readonly normScalingFactor?: number;
  readonly dtype?: SafetensorsDtype;
  /** Older SAELens cfg.json fields (hook_point, activation_fn_str, activation_fn_kwargs) instead of 6.x ones. */
  readonly legacyConfig?: boolean;
}

/**
 * Writes one SAE folder. Decoder rows are random unit directions and the encoder is their transpose (SAELens'
 * initialization); inputs are rescaled to norm sqrt(d_in) by default, so pre-activations are about N(0, 1) whatever
 * the subject's scale, and biases and thresholds near 1 make each latent fire on a minority of tokens.
 */
export async function writeTinySae(folder: string, layout: TinySaeLayout): Promise<void> {
  const { dIn, dSae, layer, architecture } = layout;
  const random = new Sfc32(layout.seed * 1_000_003 + layer * 7919 + 17);
  const wDec = random.normals(dSae * dIn, 1);
  for (let j = 0; j < dSae; j++) {
    let norm = 0;
    for (let i = 0; i < dIn; i++) norm += wDec[j * dIn + i]! ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < dIn; i++) wDec[j * dIn + i]! /= norm;
  }
  const wEnc = new Float32Array(dIn * dSae);
  for (let j = 0; j < dSae; j++) for (let i = 0; i < dIn; i++) wEnc[i * dSae + j] = wDec[j * dIn + i]!;
  const bDec = random.normals(dIn, 0.1);
  const bEnc =
    architecture === 'standard'
      ? Float32Array.from({ length: dSae }, () => -0.5 - random.nextFloat())
      : random.normals(dSae, 0.1);
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {
    W_enc: { shape: [dIn, dSae], data: wEnc },
    b_enc: { shape: [dSae], data: bEnc },
    W_dec: { shape: [dSae, dIn], data: wDec },
    b_dec: { shape: [dIn], data: bDec },
  };
  if (architecture === 'jumprelu')
    tensors['threshold'] = { shape: [dSae], data: Float32Array.from({ length: dSae }, () => 0.5 + random.nextFloat()) };
  const k = architecture === 'topk' ? (layout.k ?? Math.max(1, Math.floor(dSae / 16))) : null;
  const normalize = layout.normalizeActivations ?? 'constant_norm_rescale';
  const hook = `blocks.${layer}.hook_resid_post`;
  const cfg: Record<string, unknown> = layout.legacyConfig
    ? {
        architecture: architecture === 'topk' ? 'standard' : architecture,
        d_in: dIn,
        d_sae: dSae,
        dtype: 'float32',
        device: 'cpu',
        model_name: 'expgen-tiny-llama',
        hook_point: hook,
        hook_point_layer: layer,
        hook_point_head_index: null,
        activation_fn_str: architecture === 'topk' ? 'topk' : 'relu',
        activation_fn_kwargs: k !== null ? { k } : {},
        apply_b_dec_to_input: layout.applyBDecToInput ?? true,
        normalize_activations:
          normalize === 'expected_average_only_in' ? true : normalize === 'none' ? false : normalize,
        sae_lens_version: '3.5.0',
      }
    : {
        architecture,
        d_in: dIn,
        d_sae: dSae,
        dtype: 'float32',
        device: 'cpu',
        apply_b_dec_to_input: layout.applyBDecToInput ?? true,
        normalize_activations: normalize,
        reshape_activations: 'none',
        ...(k !== null ? { k } : {}),
        metadata: {
          model_name: 'expgen-tiny-llama',
          hook_name: hook,
          hook_layer: layer,
          hook_head_index: null,
          sae_lens_version: '6.0.0',
          sae_lens_training_version: 'expgen-tiny',
        },
      };
  if (normalize === 'expected_average_only_in') cfg['norm_scaling_factor'] = layout.normScalingFactor ?? 1;
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'cfg.json'), `${JSON.stringify(cfg, null, 2)}\n`);
  const dtype = layout.dtype ?? 'F32';
  await writeSafetensors(
    join(folder, 'sae_weights.safetensors'),
    Object.entries(tensors).map(([name, t]) => ({ name, dtype, ...t })),
    { format: 'pt' },
  );
}

/**
 * The folder of tiny SAEs for a subject whose `resid/<L>` hooks are `dIn` wide: `layer-<L>/` per layer, generated
 * once into the cache (each layer written in a scratch folder and renamed into place, so a killed run never leaves
 * a folder that looks complete).
 */
export async function tinySaeFolder(
  cacheDir: string,
  options: TinySaeOptions,
  dIn: number,
  layers: readonly number[],
): Promise<string> {
  const key = createHash('sha256')
    .update(JSON.stringify({ format: 2, dIn, ...options }))
    .digest('hex')
    .slice(0, 16);
  const root = join(cacheDir, 'saes', `tiny-${key}`);
  for (const layer of layers) {
    const folder = join(root, `layer-${layer}`);
    await produceFolderOnce(
      folder,
      (f) => existsSync(join(f, 'sae_weights.safetensors')),
      (scratch) => writeTinySae(scratch, { ...options, dIn, layer }),
    );
  }
  return root;
}
