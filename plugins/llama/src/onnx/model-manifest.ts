import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import type { LlamaConfig } from '../hf/hf-config.js';
import type { BuildDtype, HookTensor } from './llama-graph.js';
import { withTemporary } from '@expgen/plugin-kit';

export const MANIFEST_FILE = 'expgen-model.json';
export const MODEL_FILE = 'model.onnx';
export const WEIGHTS_FILE = 'model.onnx.data';
export const MANIFEST_FORMAT = 'expgen-llama-onnx';
export const MANIFEST_VERSION = 1;

/** Hook variants of the base graph are written beside it as `model.variant-<hash>.onnx` (see hook-variants.ts). */
export const variantFileName = (hash: string): string => `model.variant-${hash}.onnx`;
export const isVariantFile = (file: string): boolean => /^model\.variant-[0-9a-f]+\.onnx(\.data)?$/.test(file);

/** What `buildOnnxModel` wrote, recorded beside the model as `expgen-model.json`. */
export interface BuiltModelManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly formatVersion: typeof MANIFEST_VERSION;
  readonly config: LlamaConfig;
  readonly dtype: BuildDtype;
  /** Graph file, relative to the folder. */
  readonly model: string;
  /** External data file of the graph's weights, relative to the folder. */
  readonly weights: string;
  readonly weightsBytes: number;
  /**
   * sha256 (hex): `weights` over the source safetensors files (each file's digest, in name order), `onnxWeights`
   * of the data file written, `tokenizer` of tokenizer.json, `config` of config.json.
   */
  readonly hashes: Readonly<Record<string, string>>;
  readonly hookPoints: readonly HookTensor[];
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** ONNX element type of the KV cache. */
  readonly kvElemType: number;
  readonly builtBy: { readonly name: string; readonly version: string };
}

export async function writeManifest(folder: string, manifest: BuiltModelManifest): Promise<void> {
  const path = join(folder, MANIFEST_FILE);
  const temporary = `${path}.tmp-${process.pid}`;
  await withTemporary(temporary, async () => {
    await writeFile(temporary, `${JSON.stringify(manifest, null, 2)}\n`);
    await rename(temporary, path);
  });
}

/** Reads and checks the manifest of a built model folder; every failure names the file and what to do. */
export async function readManifest(folder: string): Promise<BuiltModelManifest> {
  const path = join(folder, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    const hint = (await exists(join(folder, 'config.json')))
      ? 'this looks like a Hugging Face checkpoint: build it first with `expgen model build`'
      : 'point to a folder made by `expgen model build`';
    throw new ExpgenError(
      `${path} is missing, so ${folder} is not a built expgen model (or its build did not finish); ${hint}`,
    );
  }
  let manifest: BuiltModelManifest;
  try {
    manifest = JSON.parse(text) as BuiltModelManifest;
  } catch (error) {
    throw new ExpgenError(
      `${path}: not valid JSON (${(error as Error).message}); rebuild the model with \`expgen model build\``,
    );
  }
  if (manifest.format !== MANIFEST_FORMAT)
    throw new ExpgenError(
      `${path}: key "format" is ${JSON.stringify(manifest.format)}, expected "${MANIFEST_FORMAT}"; rebuild the model`,
    );
  if (manifest.formatVersion !== MANIFEST_VERSION) {
    throw new ExpgenError(
      `${path}: key "formatVersion" is ${JSON.stringify(manifest.formatVersion)} but this version of @expgen/plugin-llama reads ${MANIFEST_VERSION}; rebuild the model with this version`,
    );
  }
  for (const key of ['config', 'dtype', 'model', 'weights', 'hashes', 'hookPoints', 'inputs', 'outputs'] as const) {
    if (manifest[key] === undefined || manifest[key] === null)
      throw new ExpgenError(`${path}: key "${key}" is missing; rebuild the model`);
  }
  for (const [key, file] of [
    ['model', manifest.model],
    ['weights', manifest.weights],
  ] as const) {
    const info = await stat(join(folder, file)).catch(() => null);
    if (info === null)
      throw new ExpgenError(
        `${join(folder, file)} (key "${key}" of ${MANIFEST_FILE}) is missing; copy the whole model folder or rebuild it`,
      );
    if (key === 'weights' && info.size !== manifest.weightsBytes) {
      throw new ExpgenError(
        `${join(folder, file)} is ${info.size} bytes but ${MANIFEST_FILE} says ${manifest.weightsBytes}; the copy is incomplete, copy it again or rebuild the model`,
      );
    }
  }
  return manifest;
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null)) !== null;
}
