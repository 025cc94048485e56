import { ExpgenError, formatKeyPath, SchemaError, type ComponentKind, type KeyPath } from '@expgen/contract';
import {
  SCORE_NAME,
  snakeCaseName,
  type ComponentSection,
  type DatasetSection,
  type ExpgenConfig,
  type ReportedScorerSection,
} from '../config/config-schema.js';
import { hashConfig, type LoadedConfig } from '../config/load-config.js';
import type { PluginRegistry, RegisteredComponent } from '../plugins/plugin-registry.js';

/** Component kinds chosen by one config section each (datasets are a list: `datasets[i]`). */
export const SECTION_KINDS = {
  subject: 'subject-model',
  activation: 'activation-source',
  describer: 'describer',
  simulator: 'simulator',
  scorer: 'scorer',
} as const satisfies Record<string, ComponentKind>;

export type SectionName = keyof typeof SECTION_KINDS;

export interface ResolvedComponent extends RegisteredComponent {
  readonly kind: ComponentKind;
  /** Config path of the section, e.g. ['describer'] or ['datasets', 0]. */
  readonly path: KeyPath;
  /** The section's options after the plugin's schema validated them and filled its defaults. */
  readonly options: unknown;
}

/**
 * The config of a run with every component section checked against the installed plugins and its options parsed
 * by the plugin's schema, once. This is the one copy of the config that travels through a run: stages read its
 * settings, `expgen config` prints it, manifests record it and its hash, and the container creates components from
 * its resolved sections.
 */
export interface ResolvedConfig {
  /** The config, each component section's options as its plugin parsed them (defaults filled in). */
  readonly config: ExpgenConfig;
  /** sha256 of `config`'s canonical JSON. */
  readonly hash: string;
  /** The user's config file, or null when only the embedded default applies. */
  readonly file: string | null;
  readonly defaultFile: string;
  readonly registry: PluginRegistry;
  /** Folder that relative paths at `path` resolve against: the folder of the file that set them. */
  baseDirOf(path: KeyPath): string;
  /** The file (or `--set` flag) that set the value at `path`, for error messages about it. */
  sourceOf(path: KeyPath): string;
  /** The resolved component section at `path` (`['describer']`, `['datasets', 1]`). */
  component(path: KeyPath): ResolvedComponent;
  /** Every resolved section of `kind`, in config order (several for datasets, and for scorers with `scorers`). */
  components(kind: ComponentKind): readonly ResolvedComponent[];
  /**
   * The scorers the run reports, by name: the `scorers` entries, or the `scorer` section alone when the list is
   * empty. `sameAsSelection`: the entry is the `scorer` section's component with the same options, so the run
   * creates it once and computes its scores once.
   */
  reportedScorers(): readonly ReportedScorer[];
}

/** A scorer the run reports under `name`: its key in `scores` (snake_case: the component's name by default). */
export interface ReportedScorer {
  readonly name: string;
  readonly component: ResolvedComponent;
  readonly sameAsSelection: boolean;
}

/**
 * Resolves every component section of a loaded config against the registry: an unknown component or a bad plugin
 * option anywhere fails here, naming the file and key, before anything is created or loaded.
 */
export function resolveConfig(loaded: LoadedConfig, registry: PluginRegistry): ResolvedConfig {
  const raw = loaded.config;
  const resolved: ResolvedComponent[] = [];
  const parse = <S extends ComponentSection | DatasetSection | ReportedScorerSection>(
    kind: ComponentKind,
    path: KeyPath,
    section: S,
  ): S => {
    const component = resolveSection(loaded, registry, kind, path, section);
    resolved.push(component);
    return { ...section, options: component.options };
  };
  const sections = Object.fromEntries(
    (Object.entries(SECTION_KINDS) as [SectionName, ComponentKind][]).map(([name, kind]) => [
      name,
      parse(kind, [name], raw[name]),
    ]),
  ) as Pick<ExpgenConfig, SectionName>;
  const config: ExpgenConfig = {
    ...raw,
    ...sections,
    datasets: raw.datasets.map((section, i) => parse('dataset', ['datasets', i], section)),
    scorers: raw.scorers.map((section, i) => parse('scorer', ['scorers', i], section)),
  };
  const byPath = new Map(resolved.map((c) => [formatKeyPath(c.path), c]));
  const reported = reportedScorersOf(loaded, config, byPath);
  return {
    config,
    hash: hashConfig(config),
    file: loaded.file,
    defaultFile: loaded.defaultFile,
    registry,
    baseDirOf: (path) => loaded.baseDirOf(path),
    sourceOf: (path) => loaded.sourceOf(path),
    component(path) {
      const found = byPath.get(formatKeyPath(path));
      if (!found) throw new Error(`no component section at ${formatKeyPath(path)}`);
      return found;
    },
    components: (kind) => resolved.filter((c) => c.kind === kind),
    reportedScorers: () => reported,
  };
}

function reportedScorersOf(
  loaded: LoadedConfig,
  config: ExpgenConfig,
  byPath: ReadonlyMap<string, ResolvedComponent>,
): ReportedScorer[] {
  const selection = byPath.get('scorer')!;
  const same = (c: ResolvedComponent) =>
    c.plugin === selection.plugin &&
    c.declaration === selection.declaration &&
    hashConfig(c.options ?? null) === hashConfig(selection.options ?? null);
  if (config.scorers.length === 0)
    return [{ name: snakeCaseName(config.scorer.component), component: selection, sameAsSelection: true }];
  const byName = new Map<string, number>();
  return config.scorers.map((section, i) => {
    const name = section.name ?? snakeCaseName(section.component);
    const where = `${loaded.sourceOf(['scorers', i])}: scorers[${i}]`;
    const earlier = byName.get(name);
    if (earlier !== undefined)
      throw new ExpgenError(
        `${where}: the name "${name}" is also scorers[${earlier}]'s: give one of them another name (scorers[${i}].name)`,
      );
    if (!SCORE_NAME.test(name))
      throw new ExpgenError(
        `${where}: "${section.component}" cannot name a score (a key of \`scores\` in the results: snake_case, lowercase letters, digits and "_", starting with a letter): set scorers[${i}].name`,
      );
    byName.set(name, i);
    const component = byPath.get(formatKeyPath(['scorers', i]))!;
    return { name, component, sameAsSelection: same(component) };
  });
}

/** Finds the component a config section names and validates its options with the plugin's schema. */
function resolveSection(
  loaded: LoadedConfig,
  registry: PluginRegistry,
  kind: ComponentKind,
  path: KeyPath,
  section: { component: string; plugin?: string | undefined; options?: unknown },
): ResolvedComponent {
  const where = `${loaded.sourceOf([...path, 'component'])}: ${formatKeyPath([...path, 'component'])}`;
  const found = registry.find(kind, section.component, section.plugin, where);
  try {
    return { ...found, kind, path, options: found.declaration.options.parse(section.options, [...path, 'options']) };
  } catch (error) {
    if (error instanceof SchemaError) {
      throw new ExpgenError(
        `${loaded.sourceOf(error.path)}: ${error.message} (options of the ${kind} "${found.declaration.name}" from plugin "${found.plugin.meta.name}")`,
      );
    }
    throw error;
  }
}
