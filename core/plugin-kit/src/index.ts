/**
 * @expgen/plugin-kit: small helpers plugins (and the engine) share, with no dependency beyond Node and
 * `@expgen/contract`: the durable call cache, atomic writes, content ids, the explainer answer parser, canonical
 * JSON, the one seeded generator (`Sfc32`), the safetensors reader and writer, and the scoring statistics.
 */
export { writeFileAtomic, produceFolderOnce } from './atomic-write.js';
export {
  trackTemporary,
  removeTemporaries,
  temporaryPathFor,
  errorAtTarget,
  withTemporary,
} from './temporary-files.js';
export { CallCache, callStoreFor } from './call-cache.js';
export { canonicalJson } from './canonical-json.js';
export { contentId } from './content-id.js';
export { Sfc32 } from './seeded-random.js';
export {
  parseDescription,
  DESCRIPTION_MARKER,
  REFUSAL_PATTERNS,
  type ParsedDescription,
  type DescriptionFailureReason,
} from './parse-description.js';
export * from './statistics/index.js';
export * from './safetensors/index.js';
export * from './text/index.js';
