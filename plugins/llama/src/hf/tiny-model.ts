// Random Llama-architecture checkpoints in the Hugging Face layout, for tests and benchmarks: no weights can be
// downloaded here, so the real loading code is exercised on models made by this seeded generator.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import { parseLlamaConfig, type LlamaConfig } from './hf-config.js';
import { llamaTensorNames, llamaTensorShape } from './llama-tensors.js';
import {
  SAFETENSORS_SINGLE,
  Sfc32,
  writeSafetensors,
  writeShardedSafetensors,
  type SafetensorsDtype,
} from '@expgen/plugin-kit';

export { llamaTensorNames, llamaTensorShape } from './llama-tensors.js';
import { LLAMA31_EOS_IDS, llama31TokenizerFiles } from '../tokenizer/llama31-tokenizer-files.js';
import { LlamaTokenizer } from '../tokenizer/llama-tokenizer.js';
import { plantedWeights } from './planted/planted-weights.js';

export interface TinyLlamaOptions {
  seed?: number;
  layers?: number;
  hiddenSize?: number;
  intermediateSize?: number;
  numHeads?: number;
  numKvHeads?: number;
  tieWordEmbeddings?: boolean;
  /** 1 writes `model.safetensors`; more writes shards plus `model.safetensors.index.json`. */
  shards?: number;
  dtype?: SafetensorsDtype;
  /**
   * Defaults to Llama 3's 128,256, and only then are the Llama-3.1 tokenizer files written (a tokenizer must
   * match the embedding table); a smaller vocabulary makes a faster model for tests that feed ids directly.
   */
  vocabSize?: number;
  /**
   * Plant features instead of drawing every weight at random: neurons respond to documented classes of tokens
   * and contexts, and `planted.json` records which (planted/README.md). Needs the Llama-3 vocabulary.
   */
  planted?: boolean;
}

/** The planted-truth file `generateTinyLlama({ planted: true })` writes beside the weights. */
export const PLANTED_TRUTH_FILE = 'planted.json';

const LLAMA3_VOCAB = 128256;
const LLAMA3_BOS = 128000;

const TORCH_DTYPE: Record<SafetensorsDtype, string> = { BF16: 'bfloat16', F16: 'float16', F32: 'float32' };

/**
 * Writes a random Llama-architecture model to `outDir`: config.json and generation_config.json in Llama-3.1
 * style, safetensors weights (BF16, two shards by default) and, for the Llama-3 vocabulary, the Llama-3.1
 * tokenizer files. Weights are scaled so activations stay O(1): embeddings N(0, 1), linear layers
 * N(0, 1/fan_in), norm weights 1 ± 0.1. The same options give byte-identical files.
 */
export async function generateTinyLlama(outDir: string, options: TinyLlamaOptions = {}): Promise<LlamaConfig> {
  const seed = options.seed ?? 0;
  const layers = options.layers ?? 2;
  const hiddenSize = options.hiddenSize ?? 64;
  const intermediateSize = options.intermediateSize ?? 128;
  const numHeads = options.numHeads ?? 4;
  const numKvHeads = options.numKvHeads ?? 2;
  const tie = options.tieWordEmbeddings ?? false;
  const shards = options.shards ?? 2;
  const dtype = options.dtype ?? 'BF16';
  const vocabSize = options.vocabSize ?? LLAMA3_VOCAB;
  if (hiddenSize % numHeads !== 0 || numHeads % numKvHeads !== 0 || (hiddenSize / numHeads) % 2 !== 0) {
    throw new ExpgenError(
      `tiny model: hiddenSize ${hiddenSize}, numHeads ${numHeads}, numKvHeads ${numKvHeads} do not fit; heads must divide hiddenSize into even head sizes and kv heads must divide heads`,
    );
  }

  const eos = LLAMA31_EOS_IDS.filter((id) => id < vocabSize);
  const configJson = {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: LLAMA3_BOS < vocabSize ? LLAMA3_BOS : null,
    eos_token_id: eos.length > 0 ? eos : null,
    head_dim: hiddenSize / numHeads,
    hidden_act: 'silu',
    hidden_size: hiddenSize,
    initializer_range: 0.02,
    intermediate_size: intermediateSize,
    max_position_embeddings: 131072,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: numHeads,
    num_hidden_layers: layers,
    num_key_value_heads: numKvHeads,
    pretraining_tp: 1,
    rms_norm_eps: 1e-5,
    rope_scaling: {
      factor: 8.0,
      high_freq_factor: 4.0,
      low_freq_factor: 1.0,
      original_max_position_embeddings: 8192,
      rope_type: 'llama3',
    },
    rope_theta: 500000.0,
    tie_word_embeddings: tie,
    torch_dtype: TORCH_DTYPE[dtype],
    transformers_version: '4.43.0',
    use_cache: true,
    vocab_size: vocabSize,
  };
  const configFile = join(outDir, 'config.json');
  const config = parseLlamaConfig(configJson, configFile);

  if (options.planted) {
    if (vocabSize !== LLAMA3_VOCAB)
      throw new ExpgenError(
        `tiny model: planted features need the Llama-3 vocabulary (${LLAMA3_VOCAB}), not ${vocabSize}`,
      );
    const files = await llama31TokenizerFiles();
    const tokenizer = new LlamaTokenizer(files, { source: 'the Llama-3.1 tokenizer' });
    const planted = plantedWeights(config, seed, (id) => (tokenizer.isSpecial(id) ? null : tokenizer.decode([id])));
    const tensors = llamaTensorNames(config).map((name) => ({
      name,
      dtype,
      shape: llamaTensorShape(config, name),
      data: planted.tensors.get(name)!,
    }));
    await writeCheckpoint(outDir, configJson, tensors, shards, dtype);
    await writeFile(join(outDir, PLANTED_TRUTH_FILE), `${JSON.stringify(planted.truth, null, 1)}\n`);
    return config;
  }

  const random = new Sfc32(seed);
  const tensors = llamaTensorNames(config).map((name) => {
    const shape = llamaTensorShape(config, name);
    const count = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (name.endsWith('norm.weight')) data = random.normals(count, 0.1, 1);
    else if (name === 'model.embed_tokens.weight') data = random.normals(count, 1);
    else data = random.normals(count, 1 / Math.sqrt(shape[1]!));
    return { name, dtype, shape, data };
  });

  await writeCheckpoint(outDir, configJson, tensors, shards, dtype);
  return config;
}

/** config.json, generation_config.json, the weights and, for the Llama-3 vocabulary, the tokenizer files. */
async function writeCheckpoint(
  outDir: string,
  configJson: { bos_token_id: number | null; eos_token_id: number[] | null; vocab_size: number },
  tensors: { name: string; dtype: SafetensorsDtype; shape: number[]; data: Float32Array }[],
  shards: number,
  dtype: SafetensorsDtype,
): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'config.json'), `${JSON.stringify(configJson, null, 2)}\n`);
  await writeFile(
    join(outDir, 'generation_config.json'),
    `${JSON.stringify(
      {
        bos_token_id: configJson.bos_token_id,
        do_sample: true,
        eos_token_id: configJson.eos_token_id,
        temperature: 0.6,
        top_p: 0.9,
        transformers_version: '4.43.0',
      },
      null,
      2,
    )}\n`,
  );
  if (shards === 1) await writeSafetensors(join(outDir, SAFETENSORS_SINGLE), tensors, { format: 'pt' });
  else await writeShardedSafetensors(outDir, tensors, shards, dtype);

  if (configJson.vocab_size === LLAMA3_VOCAB) {
    const files = await llama31TokenizerFiles();
    await writeFile(join(outDir, 'tokenizer.json'), `${JSON.stringify(files.tokenizerJson)}\n`);
    await writeFile(join(outDir, 'tokenizer_config.json'), `${JSON.stringify(files.tokenizerConfig, null, 2)}\n`);
  }
}
