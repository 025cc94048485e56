/**
 * What tests (ours and other plugins') need to check a Llama subject without downloaded weights: the seeded
 * tiny-model generator and the independent plain-TypeScript reference forward.
 */
export { generateTinyLlama, type TinyLlamaOptions } from './hf/tiny-model.js';
export { referenceForward, loadReferenceWeights, type ReferenceOutput } from './reference/reference-forward.js';
export { SafetensorsStore, writeSafetensors } from './hf/safetensors.js';
export { readLlamaConfig, type LlamaConfig } from './hf/hf-config.js';
