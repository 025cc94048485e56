/**
 * Reading the exemplar dumps Transluce released for Llama-3.1-8B-Instruct (numpy arrays per split and layer) as
 * expgen exemplar rows, and converting them into an expgen output folder.
 */
export { parseNpyHeader, parsePythonLiteral, NpyFile, type NpyHeader, type NpyDtype } from './npy.js';
export {
  ReleasedExemplars,
  readReleasedConfig,
  RELEASED_SPLITS,
  type ReleasedSplit,
  type ReleasedConfig,
  type ReleasedNeuron,
} from './released-exemplars.js';
export { importReleasedExemplars, tailQuantileOfSorted } from './import-released.js';
