import {
  ExpgenError,
  isExpgenError,
  type AnyComponentDeclaration,
  type ExpgenPlugin,
  type ComponentKind,
  closest,
} from '@expgen/contract';
import { discoverPlugins, type PluginCandidate } from './discover-plugins.js';
import { loadPluginFrom } from './load-plugin.js';

export interface RegisteredComponent {
  readonly plugin: ExpgenPlugin;
  readonly declaration: AnyComponentDeclaration;
}

/** A plugin that was found but could not be loaded; shown by `expgen plugins`, fatal only when selected. */
export interface BrokenPlugin {
  readonly candidate: PluginCandidate;
  readonly error: string;
}

/** Every plugin the CLI found, and the components they provide. */
export class PluginRegistry {
  constructor(
    readonly plugins: readonly { plugin: ExpgenPlugin; candidate: PluginCandidate }[],
    readonly broken: readonly BrokenPlugin[],
  ) {}

  /** Discovers and loads plugins. Config paths must load; packages found by scanning that fail are kept as broken. */
  static async discover(options: {
    cwd: string;
    configPaths?: readonly { path: string; baseDir: string }[];
  }): Promise<PluginRegistry> {
    const candidates = discoverPlugins(options);
    const settled = await Promise.all(
      candidates.map(async (candidate) => {
        try {
          return { ok: await loadPluginFrom(candidate) };
        } catch (error) {
          if (candidate.origin !== 'node_modules') throw error;
          return { broken: { candidate, error: isExpgenError(error) ? error.message : String(error) } };
        }
      }),
    );
    return new PluginRegistry(
      settled.flatMap((s) => (s.ok ? [s.ok] : [])),
      settled.flatMap((s) => (s.broken ? [s.broken] : [])),
    );
  }

  /** Registry of plugin objects given directly (tests, library use). */
  static of(plugins: readonly ExpgenPlugin[]): PluginRegistry {
    return new PluginRegistry(
      plugins.map((plugin) => ({
        plugin,
        candidate: { name: plugin.meta.name, location: '(in memory)', origin: 'config' as const, hasCommands: false },
      })),
      [],
    );
  }

  components(kind?: ComponentKind): RegisteredComponent[] {
    return this.plugins.flatMap(({ plugin }) =>
      plugin.components
        .filter((c) => kind === undefined || c.kind === kind)
        .map((declaration) => ({ plugin, declaration })),
    );
  }

  /**
   * The component of `kind` named `name` (from `pluginName` when given). `where` names the config key for the
   * error, which lists what is available and how to disambiguate.
   */
  find(kind: ComponentKind, name: string, pluginName: string | undefined, where: string): RegisteredComponent {
    const ofKind = this.components(kind);
    const matches = ofKind.filter(
      (c) => c.declaration.name === name && (!pluginName || c.plugin.meta.name === pluginName),
    );
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) {
      const names = matches.map((m) => m.plugin.meta.name).join(', ');
      throw new ExpgenError(
        `${where}: the ${kind} "${name}" is provided by several plugins (${names}): set the section's "plugin" key to one of them`,
      );
    }
    const brokenHint = this.broken.length
      ? `; plugins that failed to load: ${this.broken.map((b) => b.candidate.name).join(', ')} (see "expgen plugins")`
      : '';
    if (pluginName && !this.plugins.some((p) => p.plugin.meta.name === pluginName)) {
      throw new ExpgenError(
        `${where}: no plugin named "${pluginName}" is installed: install it with npm or list its folder in plugins.paths${brokenHint}`,
      );
    }
    const available = [...new Set(ofKind.map((c) => c.declaration.name))];
    const near = closest(name, available);
    throw new ExpgenError(
      `${where}: expected a ${kind} component (${available.join(', ') || 'none installed'}), found "${name}"${near ? ` (did you mean "${near}"?)` : ''}${brokenHint}`,
    );
  }
}
