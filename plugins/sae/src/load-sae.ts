import { existsSync } from 'node:fs';
import { ExpgenError } from '@expgen/contract';
import { readSaeSpec, resolveNormalization, type SaeSpec } from './sae-config.js';
import type { SaeEncoder } from './sae-encoder.js';
import { SafetensorsStore, type TensorInfo } from '@expgen/plugin-kit';

/** A loaded SAE: what its config says and the encoder's tensors as float32. */
export interface LoadedSae {
  readonly spec: SaeSpec;
  readonly encoder: SaeEncoder;
}

/** Reads an SAE folder (config and encoder tensors), checking every shape against the config. */
export async function loadSae(folder: string, options: { normScalingFactor?: number | null } = {}): Promise<LoadedSae> {
  return loadSaeFromSpec(readSaeSpec(folder), options);
}

/**
 * Tensor names in each layout: SAELens' own, and the `encoder.weight` / `decoder.bias` names of Llama Scope (whose
 * encoder is stored [d_sae, d_in], the transpose of W_enc). Either name set is accepted in either layout.
 */
const NAMES = {
  wEnc: ['W_enc', 'encoder.weight'],
  bEnc: ['b_enc', 'encoder.bias'],
  wDec: ['W_dec', 'decoder.weight'],
  bDec: ['b_dec', 'decoder.bias'],
  threshold: ['threshold', 'log_threshold', 'log_jumprelu_threshold'],
} as const;

/**
 * Reads the encoder tensors of a config already read. `normScalingFactor` supplies (or overrides) the factor of
 * `expected_average_only_in`; `optionKey` is the option named when neither it nor the config has one.
 */
export async function loadSaeFromSpec(
  spec: SaeSpec,
  options: { normScalingFactor?: number | null; optionKey?: string } = {},
): Promise<LoadedSae> {
  const normalization = resolveNormalization(
    spec,
    options.normScalingFactor ?? null,
    options.optionKey ?? 'the normScalingFactors option for this layer',
  );
  if (!existsSync(spec.weightsFile)) {
    throw new ExpgenError(
      `${spec.weightsFile} is missing: the SAE in ${spec.folder} needs its weights beside ${spec.configFile.slice(spec.folder.length + 1)}`,
    );
  }
  const file = await SafetensorsStore.open(spec.weightsFile);
  try {
    const where = spec.weightsFile;
    const find = (names: readonly string[]): [string, TensorInfo] | null => {
      for (const name of names) if (file.has(name)) return [name, file.info(name)];
      return null;
    };
    const need = (names: readonly string[]): [string, TensorInfo] => {
      const found = find(names);
      if (!found)
        throw new ExpgenError(
          `${where}: tensor "${names[0]}" is missing (the file has ${file.names().join(', ') || 'no tensors'})`,
        );
      return found;
    };
    const expectShape = (name: string, entry: TensorInfo, shape: readonly number[], config: string) => {
      if (entry.shape.length !== shape.length || entry.shape.some((d, i) => d !== shape[i])) {
        throw new ExpgenError(
          `${where}: tensor "${name}" has shape [${entry.shape.join(', ')}] but ${config} in ${spec.configFile} needs [${shape.join(', ')}]`,
        );
      }
    };
    const { dIn, dSae } = spec;
    const [wEncName, wEncEntry] = need(NAMES.wEnc);
    // Held as [d_sae, d_in] (see SaeEncoder.wEncT): Llama Scope's layout as is, SAELens' W_enc transposed on reading.
    const saelensLayout = wEncName === 'W_enc';
    expectShape(wEncName, wEncEntry, saelensLayout ? [dIn, dSae] : [dSae, dIn], 'd_in x d_sae');
    const [bEncName, bEncEntry] = need(NAMES.bEnc);
    expectShape(bEncName, bEncEntry, [dSae], 'd_sae');
    // The decoder is not needed to encode; when present its shape still tells a mismatched file early.
    const wDec = find(NAMES.wDec);
    if (wDec) expectShape(wDec[0], wDec[1], wDec[0] === 'decoder.weight' ? [dIn, dSae] : [dSae, dIn], 'd_sae x d_in');
    const bDecFound = find(NAMES.bDec);
    if (bDecFound) expectShape(bDecFound[0], bDecFound[1], [dIn], 'd_in');
    if (spec.applyBDecToInput && !bDecFound)
      throw new ExpgenError(
        `${where}: tensor "b_dec" is missing, and ${spec.configFile} asks to subtract it from the input (apply_b_dec_to_input)`,
      );

    let threshold: Float32Array | null = null;
    if (spec.architecture === 'jumprelu') {
      const found = find(NAMES.threshold);
      if (found) {
        expectShape(found[0], found[1], [dSae], 'd_sae');
        threshold = await file.readFloat32(found[0]);
        if (found[0].startsWith('log_')) for (let j = 0; j < dSae; j++) threshold[j] = Math.exp(threshold[j]!);
      } else if (spec.scalarThreshold !== null) {
        threshold = new Float32Array(dSae).fill(spec.scalarThreshold);
      } else {
        throw new ExpgenError(
          `${where}: tensor "threshold" [${dSae}] is missing; a jumprelu SAE needs its per-latent thresholds`,
        );
      }
    }
    const encoder: SaeEncoder = {
      dIn,
      dSae,
      architecture: spec.architecture,
      k: spec.k,
      applyBDecToInput: spec.applyBDecToInput,
      normalization,
      wEncT: await file.readFloat32(wEncName, { transpose: saelensLayout }),
      bEnc: await file.readFloat32(bEncName),
      bDec: bDecFound ? await file.readFloat32(bDecFound[0]) : null,
      threshold,
    };
    return { spec, encoder };
  } finally {
    await file.close();
  }
}
