// Random Llama-architecture checkpoints in the Hugging Face layout, for tests and benchmarks: no weights can be
// downloaded here, so the real loading code is exercised on models made by this seeded generator.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import { parseLlamaConfig, type LlamaConfig } from './hf-config.js';
import {
  SAFETENSORS_SINGLE,
  Sfc32,
  writeSafetensors,
  writeShardedSafetensors,
  type SafetensorsDtype,
} from '@expgen/plugin-kit';
import { LLAMA31_EOS_IDS, llama31TokenizerFiles } from '../tokenizer/llama31-tokenizer-files.js';

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
}

const LLAMA3_VOCAB = 128256;
const LLAMA3_BOS = 128000;

const TORCH_DTYPE: Record<SafetensorsDtype, string> = { BF16: 'bfloat16', F16: 'float16', F32: 'float32' };

/** Hugging Face tensor names of a Llama checkpoint, in the order `save_pretrained` writes them. */
export function llamaTensorNames(config: Pick<LlamaConfig, 'numLayers' | 'tieWordEmbeddings'>): string[] {
  const names = ['model.embed_tokens.weight'];
  for (let i = 0; i < config.numLayers; i++) {
    const p = `model.layers.${i}`;
    names.push(
      `${p}.self_attn.q_proj.weight`,
      `${p}.self_attn.k_proj.weight`,
      `${p}.self_attn.v_proj.weight`,
      `${p}.self_attn.o_proj.weight`,
      `${p}.mlp.gate_proj.weight`,
      `${p}.mlp.up_proj.weight`,
      `${p}.mlp.down_proj.weight`,
      `${p}.input_layernorm.weight`,
      `${p}.post_attention_layernorm.weight`,
    );
  }
  names.push('model.norm.weight');
  if (!config.tieWordEmbeddings) names.push('lm_head.weight');
  return names;
}

/** Shape of a Llama tensor by name; linear weights are [out, in] as in PyTorch. */
export function llamaTensorShape(config: LlamaConfig, name: string): number[] {
  const { hiddenSize: h, intermediateSize: m, numHeads, numKvHeads, headDim, vocabSize } = config;
  const suffix = name.replace(/^model\.layers\.\d+\./, '');
  switch (suffix) {
    case 'model.embed_tokens.weight':
    case 'lm_head.weight':
      return [vocabSize, h];
    case 'model.norm.weight':
    case 'input_layernorm.weight':
    case 'post_attention_layernorm.weight':
      return [h];
    case 'self_attn.q_proj.weight':
      return [numHeads * headDim, h];
    case 'self_attn.k_proj.weight':
    case 'self_attn.v_proj.weight':
      return [numKvHeads * headDim, h];
    case 'self_attn.o_proj.weight':
      return [h, numHeads * headDim];
    case 'mlp.gate_proj.weight':
    case 'mlp.up_proj.weight':
      return [m, h];
    case 'mlp.down_proj.weight':
      return [h, m];
    default:
      throw new ExpgenError(`tensor "${name}" is not part of a Llama checkpoint`);
  }
}

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

  await mkdir(outDir, { recursive: true });
  await writeFile(configFile, `${JSON.stringify(configJson, null, 2)}\n`);
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

  if (vocabSize === LLAMA3_VOCAB) {
    const files = await llama31TokenizerFiles();
    await writeFile(join(outDir, 'tokenizer.json'), `${JSON.stringify(files.tokenizerJson)}\n`);
    await writeFile(join(outDir, 'tokenizer_config.json'), `${JSON.stringify(files.tokenizerConfig, null, 2)}\n`);
  }
  return config;
}
