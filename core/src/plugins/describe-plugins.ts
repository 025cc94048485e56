import type { ComponentKind } from '@expgen/contract';
import type { PluginOrigin } from './discover-plugins.js';
import type { PluginRegistry } from './plugin-registry.js';

/** One row of `expgen plugins --json`; the field names are a stable interface. */
export interface PluginListing {
  readonly name: string;
  readonly version: string | null;
  readonly description: string | null;
  readonly origin: PluginOrigin;
  readonly location: string;
  readonly commands: boolean;
  readonly components: readonly { readonly kind: ComponentKind; readonly name: string; readonly description: string }[];
  /** Present when the plugin was found but could not be loaded. */
  readonly error?: string;
}

export function describePlugins(registry: PluginRegistry): PluginListing[] {
  const loaded = registry.plugins.map(({ plugin, candidate }) => ({
    name: plugin.meta.name,
    version: plugin.meta.version,
    description: plugin.meta.description ?? null,
    origin: candidate.origin,
    location: candidate.location,
    commands: candidate.hasCommands,
    components: plugin.components.map((c) => ({ kind: c.kind, name: c.name, description: c.description })),
  }));
  const broken = registry.broken.map(({ candidate, error }) => ({
    name: candidate.name,
    version: null,
    description: null,
    origin: candidate.origin,
    location: candidate.location,
    commands: candidate.hasCommands,
    components: [],
    error,
  }));
  return [...loaded, ...broken];
}
