import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import { readLlamaConfig, type LlamaConfig } from '../hf/hf-config.js';
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  SafetensorsStore,
  type TensorInfo,
} from '@expgen/plugin-kit';
import { ExternalDataWriter } from './external-data.js';
import { makeModel } from './graph-builder.js';
import { buildLlamaGraph, llamaWeightSpecs, type BuildDtype, type WeightSpec } from './llama-graph.js';
import {
  isVariantFile,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  MODEL_FILE,
  WEIGHTS_FILE,
  writeManifest,
  type BuiltModelManifest,
} from './model-manifest.js';
import { DataType, encodeModel, externalTensor, type TensorProto } from './onnx-proto.js';
import { pluginPackage } from './package-version.js';
import { withTemporary } from '@expgen/plugin-kit';

export type { BuiltModelManifest } from './model-manifest.js';

export interface BuildOptions {
  readonly dtype: BuildDtype;
  /** Called after each tensor is written: tensors done, tensors in all, the tensor's name. */
  readonly onProgress?: (done: number, total: number, tensor: string) => void;
}

/**
 * Files copied from the checkpoint so the built folder is self-contained. A checkpoint without tokenizer.json
 * still builds (test models with small vocabularies have none); opening it then needs a tokenizer passed in.
 */
const REQUIRED_FILES = ['config.json'];
const OPTIONAL_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'generation_config.json',
  'special_tokens_map.json',
  // The ground truth of a model whose features were planted (the demo's tiny Llama): see SubjectModelInfo.
  'planted.json',
];

/** Tensors some checkpoints carry that the graph recomputes, so they are skipped rather than refused. */
const IGNORED_TENSOR = /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/;

/** Elements converted per chunk: bounds the temporary buffers to a few tens of MB for any tensor size. */
const CHUNK_ELEMENTS = 8 * 1024 * 1024;
const FLOAT16_MAX = 65504;

/**
 * Builds an ONNX model of a Hugging Face Llama checkpoint into `outDir`: `model.onnx` (graph),
 * `model.onnx.data` (weights, streamed tensor by tensor, never all in memory), `expgen-model.json` (manifest,
 * written last so an interrupted build is recognisable) and copies of the tokenizer and config files.
 */
export async function buildOnnxModel(
  hfDir: string,
  outDir: string,
  options: BuildOptions,
): Promise<BuiltModelManifest> {
  if (options.dtype !== 'fp32' && options.dtype !== 'fp16') {
    throw new ExpgenError(`build option "dtype" is ${JSON.stringify(options.dtype)}; use "fp32" or "fp16"`);
  }
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1)
    throw new ExpgenError('building ONNX models needs a little-endian machine');
  const config = await readLlamaConfig(hfDir);
  for (const file of REQUIRED_FILES) {
    if (!(await isFile(join(hfDir, file))))
      throw new ExpgenError(`${join(hfDir, file)} is missing; the model folder must hold the checkpoint's ${file}`);
  }
  const store = await SafetensorsStore.open(hfDir);
  try {
    const specs = llamaWeightSpecs(config);
    checkCheckpoint(store, config, specs, hfDir);
    await mkdir(outDir, { recursive: true });
    // A manifest left from an earlier build would vouch for the half-written files of this one; hook variants
    // of the earlier graph are stale.
    await rm(join(outDir, MANIFEST_FILE), { force: true });
    for (const file of await readdir(outDir)) if (isVariantFile(file)) await rm(join(outDir, file), { force: true });

    const writer = await ExternalDataWriter.create(outDir, WEIGHTS_FILE);
    const initializers = new Map<string, TensorProto>();
    let onnxWeightsHash: string;
    try {
      const reader = new ChunkReader();
      try {
        for (let i = 0; i < specs.length; i++) {
          const spec = specs[i]!;
          initializers.set(spec.name, await writeWeight(store.info(spec.name), spec, options.dtype, writer, reader));
          options.onProgress?.(i + 1, specs.length, spec.name);
        }
      } finally {
        await reader.close();
      }
      onnxWeightsHash = await writer.close();
    } catch (error) {
      await writer.abort();
      throw error;
    }

    const built = buildLlamaGraph(config, options.dtype, initializers);
    const model = makeModel(built.graph, {
      docString: `Llama (${config.numLayers} layers, hidden ${config.hiddenSize}) built by ${pluginPackage().name} from ${basename(resolve(hfDir))}`,
    });
    await writeAtomically(join(outDir, MODEL_FILE), encodeModel(model));

    const sourceFiles = [...new Set(store.names().map((name) => store.info(name).file))].sort();
    const fileHashes = await Promise.all(
      sourceFiles.map(async (file) => `${basename(file)} ${await sha256File(file)}\n`),
    );
    const hashes: Record<string, string> = {
      weights: createHash('sha256').update(fileHashes.join('')).digest('hex'),
      onnxWeights: onnxWeightsHash,
      config: await sha256File(join(hfDir, 'config.json')),
    };
    if (await isFile(join(hfDir, 'tokenizer.json')))
      hashes['tokenizer'] = await sha256File(join(hfDir, 'tokenizer.json'));
    for (const file of [...REQUIRED_FILES, ...OPTIONAL_FILES]) {
      const source = join(hfDir, file);
      if (!(await isFile(source)) || resolve(source) === resolve(join(outDir, file))) continue;
      await copyFile(source, join(outDir, file));
    }

    const manifest: BuiltModelManifest = {
      format: MANIFEST_FORMAT,
      formatVersion: MANIFEST_VERSION,
      config,
      dtype: options.dtype,
      model: MODEL_FILE,
      weights: WEIGHTS_FILE,
      weightsBytes: (await stat(join(outDir, WEIGHTS_FILE))).size,
      hashes,
      hookPoints: built.hooks,
      inputs: built.inputs,
      outputs: built.outputs,
      kvElemType: built.kvElemType,
      builtBy: pluginPackage(),
    };
    await writeManifest(outDir, manifest);
    return manifest;
  } finally {
    await store.close();
  }
}

/** Refuses checkpoints that do not match config.json, naming the tensor and the config keys behind the shape. */
function checkCheckpoint(
  store: SafetensorsStore,
  config: LlamaConfig,
  specs: readonly WeightSpec[],
  hfDir: string,
): void {
  const expected = new Set(specs.map((s) => s.name));
  for (const spec of specs) {
    if (!store.has(spec.name)) {
      const hint =
        spec.name === 'lm_head.weight'
          ? ' (config.json says tie_word_embeddings is false)'
          : ` (config.json: num_hidden_layers ${config.numLayers})`;
      throw new ExpgenError(
        `${hfDir}: tensor "${spec.name}" is missing from the checkpoint${hint}; the weights do not match config.json`,
      );
    }
    const shape = store.info(spec.name).shape;
    if (shape.length !== spec.shape.length || shape.some((d, i) => d !== spec.shape[i])) {
      throw new ExpgenError(
        `${hfDir}: tensor "${spec.name}" has shape [${shape.join(', ')}] but config.json implies [${spec.shape.join(', ')}] ` +
          `(hidden_size ${config.hiddenSize}, intermediate_size ${config.intermediateSize}, num_attention_heads ${config.numHeads}, num_key_value_heads ${config.numKvHeads}, head_dim ${config.headDim}, vocab_size ${config.vocabSize}); the weights do not match config.json`,
      );
    }
  }
  for (const name of store.names()) {
    if (expected.has(name) || IGNORED_TENSOR.test(name)) continue;
    if (name === 'lm_head.weight' && config.tieWordEmbeddings) continue; // a tied head saved anyway equals the embeddings
    const layer = /^model\.layers\.(\d+)\./.exec(name);
    if (layer && Number(layer[1]) >= config.numLayers) {
      throw new ExpgenError(
        `${hfDir}: tensor "${name}" belongs to layer ${layer[1]} but config.json key "num_hidden_layers" is ${config.numLayers}; the weights do not match config.json`,
      );
    }
    throw new ExpgenError(
      `${hfDir}: tensor "${name}" is not part of the Llama architecture this builder implements (biases and extra modules are not supported); use a plain Llama checkpoint`,
    );
  }
}

/** Reads a tensor's bytes from its safetensors file in chunks, keeping file handles open across tensors. */
class ChunkReader {
  private readonly handles = new Map<string, FileHandle>();
  private readonly buffer = new Uint8Array(CHUNK_ELEMENTS * 4);

  async read(info: TensorInfo, byteStart: number, byteLength: number, tensor: string): Promise<Uint8Array> {
    let handle = this.handles.get(info.file);
    if (handle === undefined) {
      handle = await open(info.file, 'r');
      this.handles.set(info.file, handle);
    }
    const target = this.buffer.subarray(0, byteLength);
    let done = 0;
    while (done < byteLength) {
      const { bytesRead } = await handle.read(target, done, byteLength - done, info.byteOffset + byteStart + done);
      if (bytesRead === 0)
        throw new ExpgenError(
          `${info.file}: file ended while reading tensor "${tensor}"; the file is truncated, re-download it`,
        );
      done += bytesRead;
    }
    return target;
  }

  async close(): Promise<void> {
    await Promise.all([...this.handles.values()].map((h) => h.close()));
    this.handles.clear();
  }
}

/** Streams one tensor into the data file, converted to the build's type; returns its external initializer. */
async function writeWeight(
  info: TensorInfo,
  spec: WeightSpec,
  dtype: BuildDtype,
  writer: ExternalDataWriter,
  reader: ChunkReader,
): Promise<TensorProto> {
  const targetFloat16 = dtype === 'fp16' && spec.kind === 'matrix';
  const elements = spec.shape.reduce((a, b) => a * b, 1);
  const sourceBytes = info.dtype === 'F32' ? 4 : 2;
  const targetBytes = targetFloat16 ? 2 : 4;
  const offset = await writer.begin(elements * targetBytes);
  const wide = new Float32Array(Math.min(elements, CHUNK_ELEMENTS));
  const narrow = new Uint16Array(targetFloat16 ? wide.length : 0);
  for (let start = 0; start < elements; start += CHUNK_ELEMENTS) {
    const count = Math.min(CHUNK_ELEMENTS, elements - start);
    const raw = await reader.read(info, start * sourceBytes, count * sourceBytes, spec.name);
    let out: Uint8Array;
    if (targetFloat16 && info.dtype === 'F16') {
      out = raw;
    } else if (targetFloat16 && info.dtype === 'BF16') {
      // The common case (bf16 checkpoints, fp16 builds): one table lookup per weight.
      const bits = new Uint16Array(raw.buffer, raw.byteOffset, count);
      const half = narrow.subarray(0, count);
      const overflow = convertBfloat16ToFloat16(bits, half, bfloat16ToFloat16Table());
      if (overflow >= 0) throw float16RangeError(spec.name, bfloat16BitsToFloat32(Uint16Array.of(bits[overflow]!))[0]!);
      out = new Uint8Array(half.buffer, half.byteOffset, count * 2);
    } else {
      const values = wide.subarray(0, count);
      if (info.dtype === 'F32') values.set(new Float32Array(raw.buffer, raw.byteOffset, count));
      else if (info.dtype === 'BF16') bfloat16BitsToFloat32(new Uint16Array(raw.buffer, raw.byteOffset, count), values);
      else float16BitsToFloat32(new Uint16Array(raw.buffer, raw.byteOffset, count), values);
      if (targetFloat16) {
        for (let i = 0; i < count; i++)
          if (Math.abs(values[i]!) > FLOAT16_MAX) throw float16RangeError(spec.name, values[i]!);
        const bits = float32ToFloat16Bits(values, narrow.subarray(0, count));
        out = new Uint8Array(bits.buffer, bits.byteOffset, count * 2);
      } else {
        out = new Uint8Array(values.buffer, values.byteOffset, count * 4);
      }
    }
    await writer.write(out);
  }
  return externalTensor(
    spec.name,
    targetFloat16 ? DataType.FLOAT16 : DataType.FLOAT,
    spec.shape,
    writer.location,
    offset,
    elements * targetBytes,
  );
}

function float16RangeError(tensor: string, value: number): ExpgenError {
  return new ExpgenError(
    `tensor "${tensor}" holds ${value}, beyond the float16 range (±${FLOAT16_MAX}); build with dtype fp32`,
  );
}

/** Table conversion; returns the index of the first finite value that overflows fp16, or -1. */
function convertBfloat16ToFloat16(bits: Uint16Array, out: Uint16Array, table: Uint16Array): number {
  let infinities = 0;
  for (let i = 0; i < bits.length; i++) {
    const h = table[bits[i]!]!;
    out[i] = h;
    infinities |= ~h & 0x7c00 ? 0 : 1;
  }
  if (infinities === 0) return -1;
  for (let i = 0; i < bits.length; i++) if ((out[i]! & 0x7c00) === 0x7c00 && (bits[i]! & 0x7f80) !== 0x7f80) return i;
  return -1;
}

let bf16ToF16: Uint16Array | null = null;

/** fp16 bits of every bf16 value (rounded to nearest even), so converting a weight is one lookup. */
function bfloat16ToFloat16Table(): Uint16Array {
  if (bf16ToF16 === null) {
    const all = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) all[i] = i;
    bf16ToF16 = float32ToFloat16Bits(bfloat16BitsToFloat32(all));
  }
  return bf16ToF16;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 16 * 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function isFile(path: string): Promise<boolean> {
  const info = await stat(path).catch(() => null);
  return info?.isFile() ?? false;
}

async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}`;
  await withTemporary(temporary, async () => {
    await writeFile(temporary, bytes);
    await rename(temporary, path);
  });
}
