import { join } from 'node:path';
import { ExpgenError, isValidSpace } from '@expgen/contract';

/**
 * Where stage 1 puts its files inside an output folder:
 *
 *   <out>/exemplars/manifest.json                                  what the folder holds (written last)
 *   <out>/exemplars/<space>/layer-<LL>/<split>.arrow               exemplar rows (Arrow IPC file format)
 *   <out>/exemplars/<space>/layer-<LL>/<split>.distribution.feather per-feature distribution statistics
 *
 * `<space>` is the feature space with `:` replaced by `~` (`sae:res-16k` -> `sae~res-16k`), because `:` is not
 * allowed in Windows file names and `~` cannot occur in a space name, so the mapping is reversible. `<LL>` is the
 * layer zero-padded to two digits (`layer-00` ... `layer-31`, `layer-100` past 99) so that a plain listing sorts
 * layers numerically. The exemplar files are the only `*.arrow` files in the folder, so `glob('**\/*.arrow')`
 * finds exactly them; the distribution files use `.feather` (the same Arrow IPC file format) to stay out of it.
 */
export const EXEMPLARS_DIR = 'exemplars';
export const MANIFEST_NAME = 'manifest.json';
export const EXEMPLAR_EXTENSION = '.arrow';
export const DISTRIBUTION_EXTENSION = '.distribution.feather';

/** Split names are path components: lower-case letters, digits, `_` and `-`. */
const SPLIT = /^[a-z][a-z0-9_-]*$/;

/** One exemplar file's coordinates: which feature space, which layer, which split. */
export interface LayerSplitKey {
  readonly space: string;
  readonly layer: number;
  readonly split: string;
}

export function checkLayerSplitKey(key: LayerSplitKey): LayerSplitKey {
  if (!isValidSpace(key.space))
    throw new ExpgenError(`exemplar files: feature space "${key.space}" is not valid (e.g. "mlp", "sae:res-16k")`);
  if (!Number.isSafeInteger(key.layer) || key.layer < 0)
    throw new ExpgenError(`exemplar files: layer ${String(key.layer)} must be a non-negative integer`);
  if (typeof key.split !== 'string' || !SPLIT.test(key.split)) {
    throw new ExpgenError(
      `exemplar files: split "${String(key.split)}" must be lower-case letters, digits, "_" or "-" (e.g. "train")`,
    );
  }
  return key;
}

export function spaceFolderName(space: string): string {
  return space.replace(':', '~');
}

export function spaceFromFolderName(folder: string): string {
  return folder.replace('~', ':');
}

export function layerFolderName(layer: number): string {
  return `layer-${String(layer).padStart(2, '0')}`;
}

export function manifestPath(outDir: string): string {
  return join(outDir, EXEMPLARS_DIR, MANIFEST_NAME);
}

export function layerSplitFolder(outDir: string, key: LayerSplitKey): string {
  checkLayerSplitKey(key);
  return join(outDir, EXEMPLARS_DIR, spaceFolderName(key.space), layerFolderName(key.layer));
}

export function exemplarFilePath(outDir: string, key: LayerSplitKey): string {
  return join(layerSplitFolder(outDir, key), `${key.split}${EXEMPLAR_EXTENSION}`);
}

export function distributionFilePath(outDir: string, key: LayerSplitKey): string {
  return join(layerSplitFolder(outDir, key), `${key.split}${DISTRIBUTION_EXTENSION}`);
}

/** `mlp/12/train`: how messages name one (space, layer, split). */
export function describeKey(key: LayerSplitKey): string {
  return `${key.space}/${key.layer}/${key.split}`;
}
