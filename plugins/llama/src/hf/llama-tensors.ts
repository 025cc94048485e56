import { ExpgenError } from '@expgen/contract';
import type { LlamaConfig } from './hf-config.js';

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
