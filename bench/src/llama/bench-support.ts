// Shared by the benchmarks: model shapes by name, a streaming random-weight checkpoint writer (so an 8B-shaped
// checkpoint can be made without holding it in memory), argument parsing and timing.
import { mkdir, open, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Provenance } from '@expgen/contract';
import { buildOnnxModel } from '@expgen/plugin-llama';
import { llama31TokenizerFiles } from '@expgen/plugin-llama/testing';
import { float32ToBfloat16Bits, Sfc32 } from '@expgen/plugin-kit';

export interface LlamaShape {
  readonly layers: number;
  readonly hidden: number;
  readonly intermediate: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly vocab: number;
  readonly tie: boolean;
  readonly ropeFactor: number;
}

export const SHAPES: Readonly<Record<string, LlamaShape>> = {
  /** Llama-3.1-8B. */
  '8b': {
    layers: 32,
    hidden: 4096,
    intermediate: 14336,
    heads: 32,
    kvHeads: 8,
    vocab: 128256,
    tie: false,
    ropeFactor: 8,
  },
  /** Llama-3.2-1B. */
  '1b': {
    layers: 16,
    hidden: 2048,
    intermediate: 8192,
    heads: 32,
    kvHeads: 8,
    vocab: 128256,
    tie: true,
    ropeFactor: 32,
  },
  /** Llama-shaped (GQA 4:1, MLP 3.5x), small enough for a 2-core CPU. */
  small: { layers: 8, hidden: 512, intermediate: 1792, heads: 8, kvHeads: 2, vocab: 128256, tie: false, ropeFactor: 8 },
  tiny: { layers: 2, hidden: 64, intermediate: 224, heads: 4, kvHeads: 1, vocab: 128256, tie: false, ropeFactor: 8 },
};

export function shapeParameters(shape: LlamaShape): number {
  const headDim = shape.hidden / shape.heads;
  const perLayer =
    2 * shape.hidden +
    shape.hidden * headDim * (2 * shape.heads + 2 * shape.kvHeads) +
    3 * shape.hidden * shape.intermediate;
  return shape.vocab * shape.hidden * (shape.tie ? 1 : 2) + shape.layers * perLayer + shape.hidden;
}

/** A shape from `--shape name` overridden by `--layers`, `--hidden`, ... */
export function shapeFromArgs(values: Record<string, string | boolean | undefined>): {
  name: string;
  shape: LlamaShape;
} {
  const name = String(values['shape'] ?? 'small');
  const base = SHAPES[name];
  if (!base) throw new Error(`--shape ${name}: use one of ${Object.keys(SHAPES).join(', ')}`);
  const number = (key: string, fallback: number) => (values[key] === undefined ? fallback : Number(values[key]));
  const shape = {
    layers: number('layers', base.layers),
    hidden: number('hidden', base.hidden),
    intermediate: number('intermediate', base.intermediate),
    heads: number('heads', base.heads),
    kvHeads: number('kv-heads', base.kvHeads),
    vocab: number('vocab', base.vocab),
    tie: base.tie,
    ropeFactor: base.ropeFactor,
  };
  const custom = JSON.stringify(shape) !== JSON.stringify(base);
  return {
    name: custom ? `${name}-l${shape.layers}-h${shape.hidden}-i${shape.intermediate}-v${shape.vocab}` : name,
    shape,
  };
}

export const SHAPE_OPTIONS = {
  shape: { type: 'string' },
  layers: { type: 'string' },
  hidden: { type: 'string' },
  intermediate: { type: 'string' },
  heads: { type: 'string' },
  'kv-heads': { type: 'string' },
  vocab: { type: 'string' },
} as const;

export function args(
  options: Record<string, { type: 'string' | 'boolean' }>,
): Record<string, string | boolean | undefined> {
  return parseArgs({ options: { ...SHAPE_OPTIONS, ...options }, allowPositionals: false, strict: true })
    .values as Record<string, string | boolean | undefined>;
}

/** Uniform values in [0, 1) with 32 random bits each (one Sfc32 output: enough for weights, and fast). */
function randomStream(seed: number): () => number {
  const random = new Sfc32(seed);
  return () => random.nextUint32() / 2 ** 32;
}

/**
 * Writes a random-weight checkpoint of `shape` in the Hugging Face layout (bf16 safetensors, shards of at most
 * 5 GB, config.json, the Llama 3.1 tokenizer when the vocabulary is Llama 3's), one chunk at a time: memory stays
 * at a few tens of MB whatever the shape. Weights are uniform with the variance of a 1/fan_in init.
 */
export async function writeRandomCheckpoint(
  dir: string,
  shape: LlamaShape,
  seed = 1,
): Promise<{ bytes: number; seconds: number }> {
  const started = performance.now();
  await mkdir(dir, { recursive: true });
  const headDim = shape.hidden / shape.heads;
  const tensors: { name: string; shape: number[]; kind: 'norm' | 'embed' | 'linear' }[] = [
    { name: 'model.embed_tokens.weight', shape: [shape.vocab, shape.hidden], kind: 'embed' },
  ];
  for (let l = 0; l < shape.layers; l++) {
    const p = `model.layers.${l}`;
    tensors.push(
      { name: `${p}.input_layernorm.weight`, shape: [shape.hidden], kind: 'norm' },
      { name: `${p}.self_attn.q_proj.weight`, shape: [shape.heads * headDim, shape.hidden], kind: 'linear' },
      { name: `${p}.self_attn.k_proj.weight`, shape: [shape.kvHeads * headDim, shape.hidden], kind: 'linear' },
      { name: `${p}.self_attn.v_proj.weight`, shape: [shape.kvHeads * headDim, shape.hidden], kind: 'linear' },
      { name: `${p}.self_attn.o_proj.weight`, shape: [shape.hidden, shape.heads * headDim], kind: 'linear' },
      { name: `${p}.post_attention_layernorm.weight`, shape: [shape.hidden], kind: 'norm' },
      { name: `${p}.mlp.gate_proj.weight`, shape: [shape.intermediate, shape.hidden], kind: 'linear' },
      { name: `${p}.mlp.up_proj.weight`, shape: [shape.intermediate, shape.hidden], kind: 'linear' },
      { name: `${p}.mlp.down_proj.weight`, shape: [shape.hidden, shape.intermediate], kind: 'linear' },
    );
  }
  tensors.push({ name: 'model.norm.weight', shape: [shape.hidden], kind: 'norm' });
  if (!shape.tie) tensors.push({ name: 'lm_head.weight', shape: [shape.vocab, shape.hidden], kind: 'linear' });

  const shardLimit = 5 * 1024 ** 3;
  const shards: (typeof tensors)[] = [[]];
  let shardBytes = 0;
  for (const tensor of tensors) {
    const bytes = tensor.shape.reduce((a, b) => a * b, 1) * 2;
    if (shardBytes + bytes > shardLimit && shards.at(-1)!.length > 0) {
      shards.push([]);
      shardBytes = 0;
    }
    shards.at(-1)!.push(tensor);
    shardBytes += bytes;
  }
  const random = randomStream(seed);
  const chunk = new Float32Array(8 * 1024 * 1024);
  const out = new Uint16Array(chunk.length);
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (let s = 0; s < shards.length; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    let offset = 0;
    for (const tensor of shards[s]!) {
      const bytes = tensor.shape.reduce((a, b) => a * b, 1) * 2;
      header[tensor.name] = { dtype: 'BF16', shape: tensor.shape, data_offsets: [offset, offset + bytes] };
      weightMap[tensor.name] = file;
      offset += bytes;
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    const handle = await open(join(dir, file), 'w');
    try {
      await handle.write(prefix);
      await handle.write(Buffer.from(json));
      for (const tensor of shards[s]!) {
        const count = tensor.shape.reduce((a, b) => a * b, 1);
        const scale = tensor.kind === 'embed' ? Math.sqrt(3) : Math.sqrt(3 / tensor.shape[1]!);
        for (let start = 0; start < count; start += chunk.length) {
          const n = Math.min(chunk.length, count - start);
          for (let i = 0; i < n; i++)
            chunk[i] = tensor.kind === 'norm' ? 1 + 0.2 * (random() - 0.5) : scale * (2 * random() - 1);
          float32ToBfloat16Bits(chunk.subarray(0, n), out);
          await handle.write(new Uint8Array(out.buffer, 0, n * 2));
        }
        total += count * 2;
      }
    } finally {
      await handle.close();
    }
  }
  await writeFile(
    join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2),
  );
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify(
      {
        architectures: ['LlamaForCausalLM'],
        model_type: 'llama',
        hidden_act: 'silu',
        hidden_size: shape.hidden,
        intermediate_size: shape.intermediate,
        num_hidden_layers: shape.layers,
        num_attention_heads: shape.heads,
        num_key_value_heads: shape.kvHeads,
        head_dim: headDim,
        vocab_size: shape.vocab,
        rms_norm_eps: 1e-5,
        rope_theta: 500000,
        rope_scaling: {
          factor: shape.ropeFactor,
          low_freq_factor: 1,
          high_freq_factor: 4,
          original_max_position_embeddings: 8192,
          rope_type: 'llama3',
        },
        max_position_embeddings: 131072,
        tie_word_embeddings: shape.tie,
        bos_token_id: 128000,
        eos_token_id: [128001, 128008, 128009],
        torch_dtype: 'bfloat16',
      },
      null,
      2,
    ),
  );
  if (shape.vocab === 128256) {
    const files = await llama31TokenizerFiles();
    await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(files.tokenizerJson));
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(files.tokenizerConfig));
  }
  return { bytes: total, seconds: (performance.now() - started) / 1000 };
}

export async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null)) !== null;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function timed<T>(run: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await run();
  return { result, ms: performance.now() - started };
}

/** Prints rows as an aligned table. */
export function table(rows: readonly (readonly (string | number)[])[]): string {
  const text = rows.map((row) => row.map((cell) => (typeof cell === 'number' ? formatNumber(cell) : cell)));
  const widths = text[0]!.map((_, c) => Math.max(...text.map((row) => row[c]!.length)));
  return text
    .map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '))
    .join('\n');
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(3);
}

/** Builds (once, into `work`) a random-weight model of `shape` and returns the ONNX folder. */
export async function benchModel(
  work: string,
  name: string,
  shape: LlamaShape,
  dtype: 'fp32' | 'fp16' = 'fp32',
): Promise<string> {
  const hfDir = join(work, `${name}-hf`);
  const modelDir = join(work, `${name}-${dtype}`);
  if (!(await exists(join(hfDir, 'config.json')))) {
    const written = await writeRandomCheckpoint(hfDir, shape);
    console.log(`random ${name} checkpoint: ${(written.bytes / 1e9).toFixed(2)} GB in ${written.seconds.toFixed(1)} s`);
  }
  if (!(await exists(join(modelDir, 'expgen-model.json')))) {
    const { ms } = await timed(() => buildOnnxModel(hfDir, modelDir, { dtype }));
    console.log(`built ${name} (${dtype}) in ${(ms / 1000).toFixed(1)} s`);
  }
  return modelDir;
}

/** Provenance of the subject a benchmark opens directly (not through a run). */
export const BENCH_SUBJECT: Provenance = {
  kind: 'subject-model',
  component: 'llama',
  plugin: '@expgen/plugin-llama',
  pluginVersion: 'bench',
};
