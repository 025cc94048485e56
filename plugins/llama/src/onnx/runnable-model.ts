import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ExpgenError, isExpgenError } from '@expgen/contract';
import { readLlamaConfig, type LlamaConfig } from '../hf/hf-config.js';
import { checkExternalData } from './external-data.js';
import { analyzeExport } from './expose-hooks.js';
import type { BaseGraph } from './hook-variants.js';
import {
  ATTENTION_MASK,
  INPUT_IDS,
  LAST_LOGITS,
  LOGITS,
  pastKeyName,
  pastValueName,
  POSITION_IDS,
  presentKeyName,
  presentValueName,
} from './llama-graph.js';
import { MANIFEST_FILE, MODEL_FILE, readManifest } from './model-manifest.js';
import { DataType } from './onnx-proto.js';

/** What the subject needs to know about a runnable graph, whether built by expgen or exported by another tool. */
export interface RunnableModel {
  readonly base: BaseGraph;
  readonly config: LlamaConfig;
  /** `fp32`, `fp16`, or `int4` for 4-bit exports. */
  readonly dtype: string;
  readonly hashes: Readonly<Record<string, string>>;
  /** ONNX element type of the KV cache. */
  readonly kvElemType: number;
  /** Cache tensors are [batch, heads, positions, headDim]. */
  readonly kvShape: { readonly heads: number; readonly headDim: number };
  /** Each layer's cache input and the output that extends it. */
  readonly kvPairs: readonly { readonly past: string; readonly present: string }[];
  readonly positionIds: string | null;
}

/** A folder built by expgen (it has expgen-model.json), or else an existing export (model.onnx, or a .onnx file). */
export async function openRunnableModel(path: string): Promise<RunnableModel> {
  const info = await stat(path).catch(() => null);
  if (info === null)
    throw new ExpgenError(
      `${path} does not exist; point to a folder made by \`expgen model build\` or to an ONNX export`,
    );
  if (info.isFile()) return readExportedModel(path);
  if ((await stat(join(path, MANIFEST_FILE)).catch(() => null)) !== null) return readBuiltModel(path);
  if ((await stat(join(path, MODEL_FILE)).catch(() => null)) !== null) return readExportedModel(join(path, MODEL_FILE));
  return readBuiltModel(path); // its error says what is missing and what to do
}

/** A built model folder (expgen-model.json). */
export async function readBuiltModel(modelDir: string): Promise<RunnableModel> {
  const manifest = await readManifest(modelDir);
  const layers = manifest.config.numLayers;
  const kvPairs = Array.from({ length: layers }, (_, l) => [
    { past: pastKeyName(l), present: presentKeyName(l) },
    { past: pastValueName(l), present: presentValueName(l) },
  ]).flat();
  return {
    base: {
      folder: modelDir,
      modelFile: manifest.model,
      hookPoints: manifest.hookPoints,
      inputIds: INPUT_IDS,
      attentionMask: ATTENTION_MASK,
      logits: LOGITS,
      lastLogits: LAST_LOGITS,
      logitsElemType: DataType.FLOAT,
      pastInputs: kvPairs.map((p) => p.past),
      presentOutputs: kvPairs.map((p) => p.present),
      pastRemovable: true,
    },
    config: manifest.config,
    dtype: manifest.dtype,
    hashes: manifest.hashes,
    kvElemType: manifest.kvElemType,
    kvShape: { heads: manifest.config.numKvHeads, headDim: manifest.config.headDim },
    kvPairs,
    positionIds: POSITION_IDS,
  };
}

/**
 * An existing Llama export. Its config.json must sit beside the model (exports from optimum and the genai model
 * builder keep it there); hook widths and the layer count are checked against it.
 */
export async function readExportedModel(modelPath: string): Promise<RunnableModel> {
  const folder = dirname(modelPath);
  const { model, analysis } = await analyzeExport(modelPath);
  let config: LlamaConfig;
  try {
    config = await readLlamaConfig(folder);
  } catch (error) {
    if (!isExpgenError(error)) throw error;
    throw new ExpgenError(
      `${modelPath} is an ONNX export, which needs the checkpoint's config.json beside it: ${error.message}`,
      { cause: error },
    );
  }
  if (analysis.layers !== config.numLayers) {
    throw new ExpgenError(
      `${modelPath} has ${analysis.layers} layers but ${join(folder, 'config.json')} key "num_hidden_layers" is ${config.numLayers}; the export and the config do not match`,
    );
  }
  const hookPoints = analysis.hookPoints.map((point) => {
    const expected = point.name.startsWith('mlp/') ? config.intermediateSize : config.hiddenSize;
    if (point.width !== 0 && point.width !== expected) {
      throw new ExpgenError(
        `${modelPath}: hook ${point.name} (${point.tensor}) is ${point.width} wide but config.json implies ${expected}; the export and the config do not match`,
      );
    }
    return { ...point, width: expected };
  });
  if (!analysis.attentionMask)
    throw new ExpgenError(
      `${modelPath}: graph input "attention_mask" is missing; expgen pads batches and needs an export that takes a mask`,
    );
  const kvDims = analysis.kv?.dims ?? [];
  const kvShape = {
    heads: typeof kvDims[1] === 'number' ? kvDims[1] : config.numKvHeads,
    headDim: typeof kvDims[3] === 'number' ? kvDims[3] : config.headDim,
  };
  const kvElemType = analysis.kv?.elemType ?? DataType.FLOAT;
  const dtype = analysis.quantized
    ? 'int4'
    : kvElemType === DataType.FLOAT16 || analysis.logitsElemType === DataType.FLOAT16
      ? 'fp16'
      : 'fp32';
  const { files } = await checkExternalData(model.graph!, folder, modelPath);
  const hashes: Record<string, string> = {
    graph: await cachedSha256(folder, basename(modelPath)),
    weights: createHash('sha256')
      .update((await Promise.all(files.sort().map(async (f) => `${f} ${await cachedSha256(folder, f)}\n`))).join(''))
      .digest('hex'),
    config: await cachedSha256(folder, 'config.json'),
  };
  if ((await stat(join(folder, 'tokenizer.json')).catch(() => null)) !== null)
    hashes['tokenizer'] = await cachedSha256(folder, 'tokenizer.json');
  return {
    base: {
      folder,
      modelFile: basename(modelPath),
      hookPoints,
      inputIds: analysis.inputIds,
      attentionMask: analysis.attentionMask,
      logits: analysis.logits,
      logitsElemType: analysis.logitsElemType,
      pastInputs: analysis.kvPairs.map((p) => p.past),
      presentOutputs: analysis.kvPairs.map((p) => p.present),
      pastRemovable: analysis.pastRemovable,
    },
    config,
    dtype,
    hashes,
    kvElemType,
    kvShape,
    kvPairs: analysis.kvPairs,
    positionIds: analysis.positionIds,
  };
}

const HASH_CACHE = 'expgen-export-hashes.json';

/**
 * sha256 of a file in an export's folder, remembered (by size and modification time) in a small file beside it,
 * so gigabytes of weights are hashed once rather than at every start.
 */
async function cachedSha256(folder: string, file: string): Promise<string> {
  const path = join(folder, file);
  const info = await stat(path);
  const cachePath = join(folder, HASH_CACHE);
  const cache = (await readFile(cachePath, 'utf8')
    .then((text) => JSON.parse(text) as Record<string, { size: number; mtimeMs: number; sha256: string }>)
    .catch(() => ({}))) as Record<string, { size: number; mtimeMs: number; sha256: string }>;
  const known = cache[file];
  if (known && known.size === info.size && known.mtimeMs === info.mtimeMs) return known.sha256;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 16 * 1024 * 1024 })) hash.update(chunk as Buffer);
  const sha256 = hash.digest('hex');
  cache[file] = { size: info.size, mtimeMs: info.mtimeMs, sha256 };
  // A read-only folder only costs the hashing again next time.
  await writeFile(cachePath, `${JSON.stringify(cache, null, 2)}\n`).catch(() => undefined);
  return sha256;
}
