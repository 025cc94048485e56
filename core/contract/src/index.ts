/**
 * @expgen/contract: what a plugin author depends on, and nothing else. The feature key, the component interfaces,
 * the plugin shape (`definePlugin`, `defineComponent`), the option schema builder `s`, errors, the host reference
 * of the subject's reductions, and `packageMeta`. No engine, no CLI, no DI container, no side effects on import.
 * The testing kit (fakes and the contract suite) is `@expgen/contract/testing`.
 */
export * from './activation-source.js';
export * from './dataset-source.js';
export * from './describer.js';
export * from './errors.js';
export * from './feature-key.js';
export * from './graph-fragment.js';
export { reduceOnHost } from './host-reductions.js';
export { memoryLogger } from './memory-logger.js';
export { packageMeta } from './package-meta.js';
export * from './planted-truth.js';
export * from './plugin.js';
export { checkPluginShape } from './plugin-shape.js';
export * from './provenance.js';
export * from './schema.js';
export * from './scorer.js';
export * from './sign.js';
export * from './simulator.js';
export * from './subject-model.js';
export * from './tokenizer.js';
