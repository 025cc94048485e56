/**
 * What tests (ours and other plugins') and the benchmarks need to check a Llama subject without downloaded weights: the seeded
 * tiny-model generator and the independent plain-TypeScript reference forward.
 */
export { generateTinyLlama, type TinyLlamaOptions } from './hf/tiny-model.js';
export { referenceForward, loadReferenceWeights, type ReferenceOutput } from './reference/reference-forward.js';
/** Kept for tests written before the reader moved: safetensors live in @expgen/plugin-kit. */
export { SafetensorsStore, writeSafetensors } from '@expgen/plugin-kit';
export { readLlamaConfig, type LlamaConfig } from './hf/hf-config.js';
// Building blocks of the benchmarks (`bench/`): the tokenizer's files, tiny built models with an id tokenizer, the
// sampler's argmax, and the fine-tuned simulator run directly.
export { llama31TokenizerFiles } from './tokenizer/llama31-tokenizer-files.js';
export { idTokenizer, tinyBuiltModel, type TinyBuiltModel } from './onnx/test-models.js';
export { argmax } from './runtime/token-sampler.js';
export { expectedBin, FinetunedSimulator, RELEASED_SIMULATOR } from './simulator/finetuned-simulator.js';
export { gatherCacheRows } from './runtime/kv-rows.js';
export type { LlamaGenerationResult } from './runtime/generate.js';
