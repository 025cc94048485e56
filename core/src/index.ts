/**
 * @expgen/core: the contract every plugin implements, the engine that runs it, and the helpers plugin authors
 * use. The CLI lives under `cli/` and is the only part that imports oclif.
 */
export * from './contract/index.js';
export * from './options/schema.js';
export { packageMeta } from './plugins/package-meta.js';
export {
  loadConfig,
  mergeConfig,
  parseSet,
  hashConfig,
  canonicalJson,
  defaultConfigFile,
  type LoadedConfig,
  type LoadConfigOptions,
} from './config/load-config.js';
export { configSchema, type ExpgenConfig, type ComponentSection, type DatasetSection } from './config/config-schema.js';
export { discoverPlugins, type PluginCandidate, type PluginOrigin } from './plugins/discover-plugins.js';
export { loadPluginFrom, checkPluginShape } from './plugins/load-plugin.js';
export { PluginRegistry, type RegisteredComponent, type BrokenPlugin } from './plugins/plugin-registry.js';
export { describePlugins, type PluginListing } from './plugins/describe-plugins.js';
export { BUILTIN_PLUGINS, PLUGIN_KEYWORD, PLUGIN_NAME_PATTERN } from './plugins/builtin-plugins.js';
export { composeRun, type ComposedRun, type ComposeOptions, type RunComponents } from './engine/composition-root.js';
export { reduceOnHost } from './engine/host-reductions.js';
export { traceSequence, type Trace } from './engine/trace-sequence.js';
export { writeManifest, MANIFEST_FILE } from './engine/run-manifest.js';
export { writeFileAtomic, produceFolderOnce } from './engine/atomic-write.js';
export { resolveCacheDir } from './engine/cache-dir.js';
export { stderrLogger, memoryLogger } from './engine/logger.js';
export { contentId } from './engine/content-id.js';
export { selectFeatures, selectedIndices, type FeatureSelection } from './engine/feature-selection.js';
export { createProgress, formatCount, formatDuration, type Progress, type ProgressOptions } from './engine/progress.js';
export { CallCache } from './engine/call-cache.js';
export { recordsToArrow, type RecordColumn, type RecordColumnType } from './engine/records-arrow.js';
export { Journal } from './engine/journal.js';
export * from './score/statistics/index.js';
export { runPipeline, shardFeatures, type PipelineOptions, type PipelineResult, type StageName } from './pipeline.js';
export {
  runExemplarStage,
  layerStateBytes,
  type ExemplarStageInput,
  type ExemplarStageSummary,
} from './exemplars/exemplar-stage.js';
export { ExemplarLibrary } from './exemplars/exemplar-library.js';
export { runDescribeStage, type DescribeStageInput } from './describe/describe-stage.js';
export { describedKey, type DescribedFeature } from './describe/described-feature.js';
export * from './describe/prompts/index.js';
export {
  runScoreStage,
  summarize,
  writeResults,
  RESULT_COLUMNS,
  type ResultRow,
  type RunSummary,
  type ScoreStageInput,
} from './score/score-stage.js';
export { resolveAllComponents, resolveComponent, type ResolvedComponent } from './engine/resolve-components.js';
export { TAIL_FRACTIONS } from './exemplars/state/activation-distribution.js';
