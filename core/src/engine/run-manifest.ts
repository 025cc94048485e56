import { join } from 'node:path';
import type { Provenance, SubjectModelInfo } from '@expgen/contract';
import type { PluginRegistry } from '../plugins/plugin-registry.js';
import { writeFileAtomic } from '@expgen/plugin-kit';
import { expgenVersion, provenanceRecord, readProvenanceRecord } from './output-records.js';

export const MANIFEST_FILE = 'expgen-manifest.json';

/** `format` of `expgen-manifest.json` (2: snake_case names and `expgen_version`). */
export const RUN_MANIFEST_FORMAT = 2;

/**
 * The subject's description as `expgen-manifest.json` writes it: `SubjectModelInfo` in snake_case. `hashes` keeps
 * the keys its plugin chose.
 */
export function subjectRecord(info: SubjectModelInfo): Record<string, unknown> {
  return {
    architecture: info.architecture,
    layers: info.layers,
    hidden_size: info.hiddenSize,
    intermediate_size: info.intermediateSize,
    vocab_size: info.vocabSize,
    execution_provider: info.executionProvider,
    dtype: info.dtype,
    hashes: info.hashes,
    ...(info.plantedTruth !== undefined ? { planted_truth: info.plantedTruth } : {}),
  };
}

/**
 * Written beside every output: the resolved config (its keys as the config schema spells them), its hash, every
 * plugin's name and version and the components that produced the output. No timestamps or host names, so
 * identical runs write identical files.
 */
export function writeManifest(
  dir: string,
  entry: {
    command: string;
    /** The config and its hash as the output used them: the resolved config (plugin options parsed) of a run. */
    config: { readonly config: unknown; readonly hash: string };
    registry: PluginRegistry;
    components: readonly Provenance[];
    /** Further top-level keys (snake_case): `subject` (`subjectRecord`), `shard`. */
    extra?: Record<string, unknown>;
  },
): string {
  const path = join(dir, MANIFEST_FILE);
  const manifest = {
    format: RUN_MANIFEST_FORMAT,
    expgen_version: expgenVersion(),
    command: entry.command,
    config_hash: entry.config.hash,
    config: entry.config.config,
    plugins: entry.registry.plugins.map(({ plugin }) => ({ name: plugin.meta.name, version: plugin.meta.version })),
    components: entry.components.map(provenanceRecord),
    ...entry.extra,
  };
  writeFileAtomic(path, `${JSON.stringify(manifest, null, 2)}\n`);
  return path;
}

/**
 * A run manifest as this version writes it, from one of either spelling (format 1 said `configHash`,
 * `pluginVersion`, `hiddenSize`, ..., `mergedFrom`): for the merges, which write a manifest from their inputs'.
 * The config is left as it is.
 */
export function upgradeRunManifest(manifest: Record<string, unknown>): Record<string, unknown> {
  if (manifest['format'] === RUN_MANIFEST_FORMAT) return { ...manifest, expgen_version: expgenVersion() };
  const { format: _format, configHash, components, subject, mergedFrom, ...rest } = manifest;
  const s = subject as Record<string, unknown> | undefined;
  return {
    format: RUN_MANIFEST_FORMAT,
    expgen_version: expgenVersion(),
    ...(configHash !== undefined ? { config_hash: configHash } : {}),
    ...rest,
    ...(Array.isArray(components) ? { components: components.map(readProvenanceRecord) } : {}),
    ...(s ? { subject: subjectRecord(s as unknown as SubjectModelInfo) } : {}),
    ...(mergedFrom !== undefined ? { merged_from: mergedFrom } : {}),
  };
}

/** The config hash of a run manifest of either spelling; null when it has none. */
export function manifestConfigHash(manifest: Record<string, unknown> | null): string | null {
  const hash = manifest?.['config_hash'] ?? manifest?.['configHash'];
  return typeof hash === 'string' ? hash : null;
}
