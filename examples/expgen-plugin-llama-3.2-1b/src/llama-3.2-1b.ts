// What makes a model "Llama-3.2-1B-Instruct", written down once, and the two checks that hold a folder to it.
//
// A new model that shares an existing tokenizer needs exactly two promises from its plugin:
//
// 1. The architecture is the one the config claims. The Llama engine of @expgen/plugin-llama runs any Llama-family
//    checkpoint, so nothing stops a user from pointing this component at Llama-3.1-8B or at a 2-layer toy; the
//    shape check turns that mistake into one line instead of a run whose results are labelled with the wrong model.
// 2. The token ids are the ones the rest of the pipeline expects. Activation sources, describers, simulators and
//    reports all read the subject's ids directly; the fine-tuned simulator in particular was trained on
//    Llama-3.1's ids and compares vocabulary fingerprints before it predicts anything. "Same tokenizer" therefore
//    means the same vocabulary, id for id: the fingerprint (sha256 over the id-ordered vocabulary) must equal
//    Llama-3.1's. The chat template is not part of it: each model keeps its own (see README.md).
import { ExpgenError, type Tokenizer } from '@expgen/contract';
import { LlamaTokenizer, type LlamaConfig } from '@expgen/plugin-llama';

/** Facts of meta-llama/Llama-3.2-1B-Instruct's config.json (and /work/shared/DESIGN.md §3). */
export const LLAMA_32_1B = {
  numLayers: 16,
  hiddenSize: 2048,
  intermediateSize: 8192,
  numHeads: 32,
  numKvHeads: 8,
  headDim: 64,
  vocabSize: 128256,
  tieWordEmbeddings: true,
  ropeScalingFactor: 32,
} as const;

/** The Hugging Face name of the checkpoint this plugin is for, as users download it. */
export const LLAMA_32_1B_CHECKPOINT = 'meta-llama/Llama-3.2-1B-Instruct';

export interface ShapeCheckOptions {
  /** What the user should do instead, ending the error line (default: build the 1B and point the config at it). */
  readonly fix?: string;
  /**
   * The tiny random twin: its sizes are tiny on purpose, so only what makes it a 1B in miniature is checked
   * (tied embeddings, rope scaling factor 32, 4 query heads per KV head, heads x head dim = hidden, the Llama-3
   * vocabulary), not the 16 x 2,048 x 8,192 sizes.
   */
  readonly twin: boolean;
}

/** Each way `config` differs from Llama-3.2-1B, in config.json's own key names; empty when it fits. */
export function llama321bMismatches(config: LlamaConfig, options: ShapeCheckOptions): string[] {
  const found: string[] = [];
  const expect = (key: string, actual: unknown, expected: unknown) => {
    if (actual !== expected) found.push(`${key} ${JSON.stringify(actual)} (expected ${JSON.stringify(expected)})`);
  };
  if (!options.twin) {
    expect('num_hidden_layers', config.numLayers, LLAMA_32_1B.numLayers);
    expect('hidden_size', config.hiddenSize, LLAMA_32_1B.hiddenSize);
    expect('intermediate_size', config.intermediateSize, LLAMA_32_1B.intermediateSize);
    expect('num_attention_heads', config.numHeads, LLAMA_32_1B.numHeads);
    expect('num_key_value_heads', config.numKvHeads, LLAMA_32_1B.numKvHeads);
    expect('head_dim', config.headDim, LLAMA_32_1B.headDim);
  } else {
    expect(
      'num_attention_heads / num_key_value_heads',
      config.numHeads / config.numKvHeads,
      LLAMA_32_1B.numHeads / LLAMA_32_1B.numKvHeads,
    );
    expect('num_attention_heads * head_dim', config.numHeads * config.headDim, config.hiddenSize);
  }
  expect('vocab_size', config.vocabSize, LLAMA_32_1B.vocabSize);
  expect('tie_word_embeddings', config.tieWordEmbeddings, LLAMA_32_1B.tieWordEmbeddings);
  expect('rope_scaling.factor', config.ropeScaling?.factor ?? null, LLAMA_32_1B.ropeScalingFactor);
  return found;
}

/** Throws one line naming `where`, every mismatch and what to do, unless `config` is Llama-3.2-1B-shaped. */
export function checkLlama321bShape(config: LlamaConfig, where: string, options: ShapeCheckOptions): void {
  const mismatches = llama321bMismatches(config, options);
  if (mismatches.length === 0) return;
  const what = options.twin ? 'a Llama-3.2-1B twin' : LLAMA_32_1B_CHECKPOINT;
  const fix =
    options.fix ??
    `build ${LLAMA_32_1B_CHECKPOINT} with "expgen model build <hf-dir> --out <dir> --set subject.component=llama-3.2-1b", or select the general "llama" component for other Llama-family models`;
  throw new ExpgenError(`${where}: not ${what}: ${mismatches.join(', ')}; ${fix}`);
}

let reference: Promise<LlamaTokenizer> | undefined;

/** The Llama-3.1 tokenizer, loaded once per process: the vocabulary Llama-3.2 shares. */
function llama31Tokenizer(): Promise<LlamaTokenizer> {
  reference ??= LlamaTokenizer.llama31();
  return reference;
}

/** The fingerprint every same-tokenizer model must have: Llama-3.1's vocabulary, which Llama-3.2 kept unchanged. */
export async function llama3VocabularyFingerprint(): Promise<string> {
  return (await llama31Tokenizer()).fingerprint;
}

/** Throws one line naming `where` unless `tokenizer` has Llama-3.1's vocabulary, id for id. */
export async function checkLlama3Vocabulary(
  tokenizer: Pick<Tokenizer, 'fingerprint' | 'vocabSize'>,
  where: string,
): Promise<void> {
  const expected = await llama3VocabularyFingerprint();
  if (tokenizer.fingerprint === expected) return;
  throw new ExpgenError(
    `${where}: the tokenizer is not Llama-3.1/3.2's vocabulary (${tokenizer.vocabSize} ids, fingerprint ${tokenizer.fingerprint.slice(0, 12)}; expected ${LLAMA_32_1B.vocabSize} ids, fingerprint ${expected.slice(0, 12)}); ` +
      `simulators and reports read the subject's token ids, so use the tokenizer files that came with ${LLAMA_32_1B_CHECKPOINT}`,
  );
}
