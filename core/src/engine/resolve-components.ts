import { ExpgenError, type ComponentKind, SchemaError, type KeyPath } from '@expgen/contract';
import type { LoadedConfig } from '../config/load-config.js';
import type { ExpgenConfig } from '../config/config-schema.js';
import type { PluginRegistry, RegisteredComponent } from '../plugins/plugin-registry.js';

export interface ResolvedComponent extends RegisteredComponent {
  /** Config path of the section, e.g. ['describer'] or ['datasets', 0]. */
  readonly path: KeyPath;
  /** The section's options after the plugin's schema validated them and filled its defaults. */
  readonly options: unknown;
}

export const SECTION_KINDS = {
  subject: 'subject-model',
  activation: 'activation-source',
  describer: 'describer',
  simulator: 'simulator',
  scorer: 'scorer',
} as const satisfies Record<string, ComponentKind>;

/** Finds the component a config section names and validates its options with the plugin's schema. */
export function resolveComponent(
  loaded: LoadedConfig,
  registry: PluginRegistry,
  kind: ComponentKind,
  path: KeyPath,
): ResolvedComponent {
  const section = path.reduce<unknown>(
    (node, key) => (node as Record<string | number, unknown>)[key],
    loaded.config,
  ) as {
    component: string;
    plugin?: string;
    options?: unknown;
  };
  const where = `${loaded.sourceOf([...path, 'component'])}: ${path
    .map((p) => (typeof p === 'number' ? `[${p}]` : p))
    .join('.')
    .replace('.[', '[')}.component`;
  const found = registry.find(kind, section.component, section.plugin, where);
  try {
    return { ...found, path, options: found.declaration.options.parse(section.options, [...path, 'options']) };
  } catch (error) {
    if (error instanceof SchemaError) {
      throw new ExpgenError(
        `${loaded.sourceOf(error.path)}: ${error.message} (options of the ${kind} "${found.declaration.name}" from plugin "${found.plugin.meta.name}")`,
      );
    }
    throw error;
  }
}

/**
 * Every component section of the config resolved against the installed plugins: unknown components and bad
 * plugin options fail here, before anything is loaded. Returns the config with each section's options as the
 * plugin parsed them (its defaults filled in), which is what `expgen config` prints and manifests record.
 */
export function resolveAllComponents(
  loaded: LoadedConfig,
  registry: PluginRegistry,
): { config: ExpgenConfig; components: ResolvedComponent[] } {
  const components: ResolvedComponent[] = [];
  const config = structuredClone(loaded.config);
  for (const [section, kind] of Object.entries(SECTION_KINDS) as [keyof typeof SECTION_KINDS, ComponentKind][]) {
    const resolved = resolveComponent(loaded, registry, kind, [section]);
    components.push(resolved);
    config[section].options = resolved.options;
  }
  loaded.config.datasets.forEach((_, i) => {
    const resolved = resolveComponent(loaded, registry, 'dataset', ['datasets', i]);
    components.push(resolved);
    config.datasets[i]!.options = resolved.options;
  });
  return { config, components };
}
