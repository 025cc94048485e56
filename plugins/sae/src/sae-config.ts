// What an SAE folder says about its encoder, whichever of the published layouts it uses:
//  - SAELens (`cfg.json` + `sae_weights.safetensors`, tensors W_enc [d_in, d_sae], b_enc, W_dec, b_dec, threshold),
//    in its 6.x form (hook name under `metadata`, TopK's `k` at the top) and its older forms (`hook_point`,
//    `activation_fn_str`, `activation_fn_kwargs: {k}`, boolean `normalize_activations`);
//  - Llama Scope as released (`hyperparams.json` + `checkpoints/final.safetensors`, tensors encoder.weight
//    [d_sae, d_in], encoder.bias, decoder.weight, decoder.bias, one scalar `jump_relu_threshold`, dataset-wise input
//    normalization), read the way SAELens' own Llama Scope loader converts it.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ExpgenError } from '@expgen/contract';

export type SaeArchitecture = 'standard' | 'jumprelu' | 'topk';

/** How the hook's values are scaled before the encoder (SAELens `normalize_activations`). */
export type SaeNormalization =
  | { readonly kind: 'none' }
  /** x * factor, one factor per SAE (SAELens: sqrt(d_in) / the dataset's mean norm, estimated in training). */
  | { readonly kind: 'expected_average_only_in'; readonly factor: number }
  /** x * sqrt(d_in) / ||x||, per token. */
  | { readonly kind: 'constant_norm_rescale' }
  /** (x - mean(x)) / (std(x) + eps), per token, std with Bessel's correction as torch.std. */
  | { readonly kind: 'layer_norm'; readonly eps: number };

/** A config's normalization: `expected_average_only_in` may lack its factor until the options supply one. */
export type SpecNormalization = SaeNormalization | { readonly kind: 'expected_average_only_in'; readonly factor: null };

export const CONFIG_FILES = ['cfg.json', 'hyperparams.json'] as const;

/** The config of one SAE and where its tensors are; nothing of the weights is read yet. */
export interface SaeSpec {
  readonly folder: string;
  readonly format: 'saelens' | 'llama-scope';
  readonly configFile: string;
  readonly weightsFile: string;
  readonly dIn: number;
  readonly dSae: number;
  readonly architecture: SaeArchitecture;
  /** Latents kept per token, for `topk`. */
  readonly k: number | null;
  readonly applyBDecToInput: boolean;
  readonly normalization: SpecNormalization;
  /** The hook the config names (`blocks.12.hook_resid_post`, ...), if it names one. */
  readonly hookName: string | null;
  /** The layer the config names (`hook_layer`), if it names one. */
  readonly hookLayer: number | null;
  /** `dtype` as the config says; encoding is float32 whatever it says. */
  readonly dtype: string | null;
  /** A single threshold for every latent (Llama Scope's `jump_relu_threshold`), when the file holds none. */
  readonly scalarThreshold: number | null;
}

/** The folder holds one SAE (a config file is there). */
export function isSaeFolder(folder: string): boolean {
  return CONFIG_FILES.some((file) => existsSync(join(folder, file)));
}

/** Reads an SAE folder's config; nothing of the weights. */
export function readSaeSpec(folder: string): SaeSpec {
  const saelens = join(folder, 'cfg.json');
  if (existsSync(saelens)) return saelensSpec(folder, saelens, readJson(saelens));
  const llamaScope = join(folder, 'hyperparams.json');
  if (existsSync(llamaScope)) return llamaScopeSpec(folder, llamaScope, readJson(llamaScope));
  throw new ExpgenError(
    `${folder} holds no SAE: expected cfg.json and sae_weights.safetensors (SAELens) or hyperparams.json and checkpoints/final.safetensors (Llama Scope)`,
  );
}

function readJson(file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ExpgenError(`${file} is not valid JSON (${(error as Error).message})`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ExpgenError(`${file} must hold a JSON object`);
  return value as Record<string, unknown>;
}

function positiveInteger(file: string, key: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new ExpgenError(`${file}: "${key}" must be a positive integer, got ${JSON.stringify(value) ?? 'nothing'}`);
  }
  return value;
}

function optionalLayer(file: string, key: string, value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new ExpgenError(`${file}: "${key}" must be a non-negative integer, got ${JSON.stringify(value)}`);
  return value;
}

function positiveFactor(file: string, key: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    throw new ExpgenError(`${file}: "${key}" must be a positive number, got ${JSON.stringify(value) ?? 'nothing'}`);
  return value;
}

function saelensSpec(folder: string, file: string, cfg: Record<string, unknown>): SaeSpec {
  // SAELens 6 moved the hook's description under `metadata` (`meta` in some writers); older files keep it at the top.
  const meta = (
    typeof cfg['metadata'] === 'object' && cfg['metadata'] !== null
      ? cfg['metadata']
      : typeof cfg['meta'] === 'object' && cfg['meta'] !== null
        ? cfg['meta']
        : {}
  ) as Record<string, unknown>;
  const get = (...keys: string[]): unknown => {
    for (const key of keys) {
      if (cfg[key] !== undefined) return cfg[key];
      if (meta[key] !== undefined) return meta[key];
    }
    return undefined;
  };
  const dIn = positiveInteger(file, 'd_in', cfg['d_in']);
  const dSae = positiveInteger(file, 'd_sae', cfg['d_sae']);
  const architectureName = cfg['architecture'] ?? 'standard';
  const activation = cfg['activation_fn'] ?? cfg['activation_fn_str'] ?? 'relu';
  if (typeof architectureName !== 'string')
    throw new ExpgenError(`${file}: "architecture" must be a string, got ${JSON.stringify(architectureName)}`);
  if (typeof activation !== 'string')
    throw new ExpgenError(`${file}: "activation_fn" must be a string, got ${JSON.stringify(activation)}`);
  let architecture: SaeArchitecture;
  if (architectureName === 'topk' || (architectureName === 'standard' && activation === 'topk')) {
    architecture = 'topk';
  } else if (architectureName === 'standard' || architectureName === 'jumprelu') {
    if (activation !== 'relu') {
      throw new ExpgenError(
        `${file}: activation function "${activation}" is not supported; the sae source encodes ReLU, JumpReLU and TopK SAEs`,
      );
    }
    architecture = architectureName;
  } else {
    throw new ExpgenError(
      `${file}: architecture "${architectureName}" is not supported; the sae source encodes "standard" (ReLU), "jumprelu" and "topk" SAEs`,
    );
  }
  let k: number | null = null;
  if (architecture === 'topk') {
    const kwargs = cfg['activation_fn_kwargs'];
    const value =
      cfg['k'] ??
      (typeof kwargs === 'object' && kwargs !== null ? (kwargs as Record<string, unknown>)['k'] : undefined);
    k = positiveInteger(file, 'k', value);
    if (k > dSae) throw new ExpgenError(`${file}: "k" is ${k}, more than d_sae (${dSae})`);
  }
  const applyBDec = cfg['apply_b_dec_to_input'] ?? true;
  if (typeof applyBDec !== 'boolean')
    throw new ExpgenError(`${file}: "apply_b_dec_to_input" must be true or false, got ${JSON.stringify(applyBDec)}`);
  const headIndex = get('hook_head_index', 'hook_point_head_index');
  if (headIndex !== undefined && headIndex !== null)
    throw new ExpgenError(
      `${file}: "hook_head_index" is ${JSON.stringify(headIndex)}; SAEs on one attention head are not supported`,
    );
  const reshape = cfg['reshape_activations'];
  if (reshape !== undefined && reshape !== null && reshape !== 'none')
    throw new ExpgenError(`${file}: "reshape_activations" is ${JSON.stringify(reshape)}; only "none" is supported`);
  const hookName = get('hook_name', 'hook_point');
  if (hookName !== undefined && hookName !== null && typeof hookName !== 'string')
    throw new ExpgenError(`${file}: "hook_name" must be a string, got ${JSON.stringify(hookName)}`);
  const dtype = cfg['dtype'];
  return {
    folder,
    format: 'saelens',
    configFile: file,
    weightsFile: join(folder, 'sae_weights.safetensors'),
    dIn,
    dSae,
    architecture,
    k,
    applyBDecToInput: applyBDec,
    normalization: saelensNormalization(file, cfg),
    hookName: typeof hookName === 'string' ? hookName : null,
    hookLayer: optionalLayer(file, 'hook_layer', get('hook_layer', 'hook_point_layer')),
    dtype: typeof dtype === 'string' ? dtype : null,
    scalarThreshold: null,
  };
}

function saelensNormalization(file: string, cfg: Record<string, unknown>): SpecNormalization {
  const value = cfg['normalize_activations'];
  // Before SAELens 6 the field was a boolean; true meant the expected-average scaling.
  if (value === undefined || value === null || value === false || value === 'none') return { kind: 'none' };
  if (value === true || value === 'expected_average_only_in') {
    // SAELens keeps the factor in its directory of pretrained SAEs, not in cfg.json; some writers add it here.
    const key = cfg['norm_scaling_factor'] !== undefined ? 'norm_scaling_factor' : 'scaling_factor';
    const factor = cfg[key];
    return {
      kind: 'expected_average_only_in',
      factor: factor === undefined || factor === null ? null : positiveFactor(file, key, factor),
    };
  }
  if (value === 'constant_norm_rescale') return { kind: 'constant_norm_rescale' };
  if (value === 'layer_norm') return { kind: 'layer_norm', eps: 1e-5 };
  throw new ExpgenError(
    `${file}: "normalize_activations" ${JSON.stringify(value)} is not supported; use "none", "expected_average_only_in", "constant_norm_rescale" or "layer_norm"`,
  );
}

/** Where a Llama Scope folder keeps its weights: under checkpoints/ as released, or beside the config. */
const LLAMA_SCOPE_WEIGHTS = ['checkpoints/final.safetensors', 'final.safetensors', 'sae_weights.safetensors'];

function llamaScopeSpec(folder: string, file: string, cfg: Record<string, unknown>): SaeSpec {
  const dIn = positiveInteger(file, 'd_model', cfg['d_model']);
  const dSae = positiveInteger(file, 'd_sae', cfg['d_sae']);
  const hookIn = cfg['hook_point_in'];
  const hookOut = cfg['hook_point_out'] ?? hookIn;
  if (typeof hookIn !== 'string')
    throw new ExpgenError(
      `${file}: "hook_point_in" must name the hook the SAE reads, got ${JSON.stringify(hookIn) ?? 'nothing'}`,
    );
  if (hookOut !== hookIn)
    throw new ExpgenError(
      `${file}: "hook_point_out" (${JSON.stringify(hookOut)}) differs from "hook_point_in": transcoders are not supported`,
    );
  const actFn = cfg['act_fn'] ?? 'relu';
  let architecture: SaeArchitecture;
  let k: number | null = null;
  let scalarThreshold: number | null = null;
  if (actFn === 'jumprelu') {
    architecture = 'jumprelu';
    const threshold = cfg['jump_relu_threshold'];
    if (threshold !== undefined) {
      if (typeof threshold !== 'number' || !Number.isFinite(threshold))
        throw new ExpgenError(`${file}: "jump_relu_threshold" must be a number, got ${JSON.stringify(threshold)}`);
      scalarThreshold = threshold;
    }
  } else if (actFn === 'topk') {
    architecture = 'topk';
    k = positiveInteger(file, 'top_k', cfg['top_k']);
    if (k > dSae) throw new ExpgenError(`${file}: "top_k" is ${k}, more than d_sae (${dSae})`);
  } else if (actFn === 'relu') {
    architecture = 'standard';
  } else {
    throw new ExpgenError(
      `${file}: "act_fn" ${JSON.stringify(actFn)} is not supported; the sae source encodes relu, jumprelu and topk SAEs`,
    );
  }
  const applyBDec =
    (cfg['apply_decoder_bias_to_pre_encoder'] ?? false) === true && (cfg['use_decoder_bias'] ?? true) === true;
  const weightsFile =
    LLAMA_SCOPE_WEIGHTS.map((name) => join(folder, name)).find((path) => existsSync(path)) ??
    join(folder, LLAMA_SCOPE_WEIGHTS[0]!);
  return {
    folder,
    format: 'llama-scope',
    configFile: file,
    weightsFile,
    dIn,
    dSae,
    architecture,
    k,
    applyBDecToInput: applyBDec,
    normalization: llamaScopeNormalization(file, cfg, dIn, hookIn),
    hookName: hookIn,
    hookLayer: optionalLayer(file, 'layer', cfg['layer']),
    dtype: typeof cfg['dtype'] === 'string' ? (cfg['dtype'] as string) : null,
    scalarThreshold,
  };
}

function llamaScopeNormalization(
  file: string,
  cfg: Record<string, unknown>,
  dIn: number,
  hook: string,
): SpecNormalization {
  const mode = cfg['norm_activation'] ?? 'none';
  if (mode === 'none' || mode === 'inference') return { kind: 'none' };
  if (mode === 'token-wise') return { kind: 'constant_norm_rescale' };
  if (mode === 'dataset-wise') {
    // Llama Scope scales inputs so their average norm over the training data is sqrt(d_model).
    const norms = cfg['dataset_average_activation_norm'];
    const table = typeof norms === 'object' && norms !== null ? (norms as Record<string, unknown>) : {};
    const norm = table['in'] ?? table[hook];
    if (norm === undefined || norm === null) return { kind: 'expected_average_only_in', factor: null };
    return {
      kind: 'expected_average_only_in',
      factor: Math.sqrt(dIn) / positiveFactor(file, 'dataset_average_activation_norm.in', norm),
    };
  }
  throw new ExpgenError(
    `${file}: "norm_activation" ${JSON.stringify(mode)} is not supported; use "none", "inference", "token-wise" or "dataset-wise"`,
  );
}

/**
 * The normalization to encode with: `override` (the options' factor for this SAE) wins over the config's factor;
 * `expected_average_only_in` without either is an error naming the file and the option that would supply it.
 */
export function resolveNormalization(spec: SaeSpec, override: number | null, optionKey: string): SaeNormalization {
  const normalization = spec.normalization;
  if (normalization.kind !== 'expected_average_only_in') return normalization;
  const factor = override ?? normalization.factor;
  if (factor === null) {
    const what =
      spec.format === 'llama-scope'
        ? '"norm_activation" is "dataset-wise" but "dataset_average_activation_norm" has no "in" entry'
        : '"normalize_activations" is "expected_average_only_in" but no "norm_scaling_factor" is given';
    throw new ExpgenError(
      `${spec.configFile}: ${what}: add it (sqrt(d_in) / the mean norm of the hook's values in training; SAELens lists it for its pretrained SAEs), or set ${optionKey}`,
    );
  }
  return { kind: 'expected_average_only_in', factor };
}

/** Short description for logs: `jumprelu 4096 -> 32768 (sae_weights.safetensors)`. */
export function describeSpec(spec: SaeSpec): string {
  const k = spec.k !== null ? ` k=${spec.k}` : '';
  return `${spec.architecture}${k} ${spec.dIn} -> ${spec.dSae} (${basename(spec.folder)}, ${spec.format})`;
}
