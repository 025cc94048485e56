import { join } from 'node:path';
import type { Provenance } from '@expgen/contract';
import type { PluginRegistry } from '../plugins/plugin-registry.js';
import { writeFileAtomic } from '@expgen/plugin-kit';

export const MANIFEST_FILE = 'expgen-manifest.json';

/**
 * Written beside every output: the resolved config, its hash, every plugin's name and version and the
 * components that produced the output. No timestamps or host names, so identical runs write identical files.
 */
export function writeManifest(
  dir: string,
  entry: {
    command: string;
    /** The config and its hash as the output used them: the resolved config (plugin options parsed) of a run. */
    config: { readonly config: unknown; readonly hash: string };
    registry: PluginRegistry;
    components: readonly Provenance[];
    extra?: Record<string, unknown>;
  },
): string {
  const path = join(dir, MANIFEST_FILE);
  const manifest = {
    format: 1,
    command: entry.command,
    configHash: entry.config.hash,
    config: entry.config.config,
    plugins: entry.registry.plugins.map(({ plugin }) => ({ name: plugin.meta.name, version: plugin.meta.version })),
    components: entry.components,
    ...entry.extra,
  };
  writeFileAtomic(path, `${JSON.stringify(manifest, null, 2)}\n`);
  return path;
}
