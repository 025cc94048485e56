/**
 * @expgen/core: the engine that runs the contract, and the `expgen` CLI (under `cli/`, the only part that imports
 * oclif; `@expgen/core/cli` exports its base command). Plugin authors depend on `@expgen/contract` (and
 * `@expgen/plugin-kit`) alone; this index re-exports both so plugins written against earlier versions, which imported
 * everything from `@expgen/core`, keep working.
 */
// The library entry point: tsyringe (in the composition root) needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
export * from '@expgen/contract';
export * from '@expgen/plugin-kit';
export {
  loadConfig,
  mergeConfig,
  parseSet,
  hashConfig,
  defaultConfigFile,
  type LoadedConfig,
  type LoadConfigOptions,
} from './config/load-config.js';
export { configSchema, type ExpgenConfig, type ComponentSection, type DatasetSection } from './config/config-schema.js';
export { discoverPlugins, type PluginCandidate, type PluginOrigin } from './plugins/discover-plugins.js';
export { loadPluginFrom } from './plugins/load-plugin.js';
export { PluginRegistry, type RegisteredComponent, type BrokenPlugin } from './plugins/plugin-registry.js';
export { describePlugins, type PluginListing } from './plugins/describe-plugins.js';
export { BUILTIN_PLUGINS, PLUGIN_KEYWORD, PLUGIN_NAME_PATTERN } from './plugins/builtin-plugins.js';
export {
  composeRun,
  createRunContainer,
  tokens,
  type ComposedRun,
  type ComposeOptions,
  type RunComponents,
} from './engine/composition-root.js';
export { RunLifetime, type Clock, type CallCacheFactory } from './engine/run-tokens.js';
export type { RunStages, ExemplarStage, DescribeStage, ScoreStage } from './engine/run-stages.js';
export { PluginCallError, stampComponent, stampPluginError } from './engine/plugin-calls.js';
export { traceSequence, type Trace } from './engine/trace-sequence.js';
export { writeManifest, MANIFEST_FILE } from './engine/run-manifest.js';
export { resolveCacheDir } from './engine/cache-dir.js';
export { stderrLogger } from './engine/logger.js';
export { selectFeatures, selectedIndices, type FeatureSelection } from './engine/feature-selection.js';
export {
  createProgress,
  startProgress,
  formatCount,
  formatDuration,
  type Progress,
  type ProgressFactory,
  type ProgressOptions,
} from './engine/progress.js';
export { recordsToArrow, type RecordColumn, type RecordColumnType } from './engine/records-arrow.js';
export {
  arrowMetadata,
  expgenVersion,
  provenanceRecord,
  readProvenanceRecord,
  PROVENANCE_FIELDS,
  type ProvenanceRecord,
} from './engine/output-records.js';
export { Journal } from './engine/journal.js';
export { runPipeline, shardFeatures, type PipelineOptions, type PipelineResult, type StageName } from './pipeline.js';
export {
  runExemplarStage,
  layerStateBytes,
  type ExemplarStageInput,
  type ExemplarStageSummary,
} from './exemplars/exemplar-stage.js';
export { ExemplarLibrary } from './exemplars/exemplar-library.js';
// Stage 1's file formats, for tools (and benchmarks) that write exemplar outputs without running stage 1.
export {
  MANIFEST_FORMAT,
  exemplarFilePath,
  layerFolderName,
  manifestPath,
  spaceFolderName,
  writeExemplarFile,
  writeExemplarManifest,
  type ExemplarManifest,
  type ExemplarRow,
  type ExemplarRowInput,
} from './exemplars/storage/index.js';
export {
  runDescribeStage,
  CANDIDATE_COLUMNS,
  CANDIDATES_FORMAT,
  type DescribeStageInput,
} from './describe/describe-stage.js';
export {
  describedKey,
  readDescribedLine,
  usageRecord,
  type DescribedFeature,
  type UsageRecord,
} from './describe/described-feature.js';
export * from './describe/prompts/index.js';
export { runScoreStage, type ScoreStageInput, type ScoreStageResult } from './score/score-stage.js';
export {
  summarize,
  writeResults,
  RESULT_COLUMNS,
  RESULTS_FORMAT,
  RESULT_STATUSES,
  STATUS_MEANINGS,
  resultArrowColumns,
  type ResultRow,
  type ResultStatus,
  type RunSummary,
  type SimulatorRecord,
} from './score/results.js';
export { readResultRow, readResultRows } from './score/read-results.js';
// Stage 3's selection machinery, for the score-selection benchmark.
export { selectCandidate, type SelectionSettings } from './score/selection-strategies.js';
export { setScorerOf } from './score/set-scorer.js';
export type { ScoringSequences } from './score/scoring-sequences.js';
export {
  COST_KEYS,
  RUN_COST_FILE,
  readRunCost,
  runCostOf,
  zeroCost,
  type RunCost,
  type StageCost,
} from './cost/stage-cost.js';
export {
  resolveConfig,
  SECTION_KINDS,
  type ResolvedConfig,
  type ResolvedComponent,
} from './engine/resolved-config.js';
export { ActivationDistribution, TAIL_FRACTIONS } from './exemplars/state/activation-distribution.js';
export { TopKExemplars, type GatedBatch } from './exemplars/state/top-k-exemplars.js';
