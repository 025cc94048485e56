/**
 * Stage 1's files: per (feature space, layer, split) an Arrow IPC exemplar file and a distribution file, plus a
 * manifest; writing them from the streaming states, loading them back, and merging shard outputs. See README.md
 * beside this file for the layout and for reading the files from Python.
 */
export {
  EXEMPLARS_DIR,
  MANIFEST_NAME,
  EXEMPLAR_EXTENSION,
  DISTRIBUTION_EXTENSION,
  spaceFolderName,
  spaceFromFolderName,
  layerFolderName,
  manifestPath,
  layerSplitFolder,
  exemplarFilePath,
  distributionFilePath,
  describeKey,
  type LayerSplitKey,
} from './layout.js';
export {
  EXEMPLAR_FORMAT,
  EXEMPLAR_FORMAT_VERSION,
  FEATURES_PER_BATCH,
  EXEMPLAR_SIGNS,
  exemplarSchema,
  writeExemplarFile,
  readExemplarFile,
  ExemplarFileReader,
  type ExemplarSign,
  type ExemplarRow,
  type ExemplarRowInput,
  type FeatureExemplars,
  type ExemplarFileContents,
} from './exemplar-file.js';
export {
  DISTRIBUTION_FORMAT,
  DISTRIBUTION_FORMAT_VERSION,
  distributionSchema,
  quantileColumn,
  writeDistributionFile,
  readDistributionFile,
  DistributionFileReader,
  type DistributionRow,
  type DistributionHistogram,
} from './distribution-file.js';
export {
  MANIFEST_FORMAT,
  writeExemplarManifest,
  readExemplarManifest,
  manifestFileForm,
  normalizeManifest,
  manifestEntries,
  manifestLayer,
  layerFeatures,
  type ExemplarManifest,
  type ExemplarParameters,
  type SplitCounts,
  type ManifestLayer,
} from './manifest.js';
export {
  parametersOf,
  exemplarRowsOf,
  distributionRowsOf,
  writeLayerSplitFiles,
  writeExemplarOutput,
  buildManifest,
  manifestLayerOf,
  SplitCountsCollector,
  type LayerSplitState,
  type ExemplarOutputInfo,
  type SequenceLookup,
} from './state-files.js';
export { loadLayerSplitState, loadExemplarOutput } from './state-loading.js';
export { exemplarRecordBatches, type ExemplarColumnsInput } from './exemplar-columns.js';
export { mergeExemplarOutputs } from './merge-exemplar-dirs.js';
export { writeFileAtomically, writeBytesAtomically } from './arrow-io.js';
