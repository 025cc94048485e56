/**
 * @expgen/core: the contract every plugin implements, the engine that runs it, and the helpers plugin authors
 * use. The CLI lives under `cli/` and is the only part that imports oclif.
 */
export * from './contract/index.js';
export * from './options/schema.js';
