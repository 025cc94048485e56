import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer, type InjectionToken } from 'tsyringe';
import {
  type ActivationSource,
  type DatasetSource,
  type Describer,
  isExpgenError,
  ExpgenError,
  pluginError,
  type ComponentContext,
  type ComponentsByKind,
  type Logger,
  type ComponentKind,
  type Provenance,
  type Scorer,
  type Simulator,
  type SubjectModel,
  type KeyPath,
} from '@expgen/contract';
import type { LoadedConfig } from '../config/load-config.js';
import { SECTION_KINDS, resolveComponent } from './resolve-components.js';
import type { PluginRegistry } from '../plugins/plugin-registry.js';
import { resolveCacheDir } from './cache-dir.js';

/**
 * The one place where components are wired. tsyringe lives here and nowhere else: every component is created
 * by its plugin's async factory (ONNX sessions open before anything is registered), registered in a child
 * container of the run by value, and handed to stages as plain arguments. Stages and plugins never resolve.
 */
export const tokens = {
  config: Symbol('expgen.config') as InjectionToken<LoadedConfig>,
  logger: Symbol('expgen.logger') as InjectionToken<Logger>,
  subject: Symbol('expgen.subject-model') as InjectionToken<SubjectModel>,
  activation: Symbol('expgen.activation-source') as InjectionToken<ActivationSource>,
  datasets: Symbol('expgen.datasets') as InjectionToken<DatasetSource[]>,
  describer: Symbol('expgen.describer') as InjectionToken<Describer>,
  simulator: Symbol('expgen.simulator') as InjectionToken<Simulator>,
  scorer: Symbol('expgen.scorer') as InjectionToken<Scorer>,
};

/** The components a run holds, created in dependency order and disposed in reverse. */
export interface RunComponents {
  readonly subject?: SubjectModel;
  readonly activation?: ActivationSource;
  readonly datasets?: readonly DatasetSource[];
  readonly describer?: Describer;
  readonly simulator?: Simulator;
  readonly scorer?: Scorer;
}

export interface ComposedRun {
  readonly components: RunComponents;
  /** Provenance of every component created, for manifests. */
  readonly provenance: readonly Provenance[];
  readonly cacheDir: string;
  /** Releases every component that holds resources, in reverse creation order; safe to call twice. */
  dispose(): Promise<void>;
}

type SectionKind = Exclude<ComponentKind, 'dataset'>;
/** The config section of each kind: the inverse of SECTION_KINDS, so the two can never disagree. */
const SECTION_OF = Object.fromEntries(
  Object.entries(SECTION_KINDS).map(([section, kind]) => [kind, section]),
) as Record<SectionKind, keyof typeof SECTION_KINDS>;

export interface ComposeOptions {
  readonly loaded: LoadedConfig;
  readonly registry: PluginRegistry;
  /** Component kinds the command uses; a kind's `needs` are added. */
  readonly needs: readonly ComponentKind[];
  readonly logger: Logger;
  readonly signal?: AbortSignal;
}

export async function composeRun(options: ComposeOptions): Promise<ComposedRun> {
  const { loaded, registry, logger } = options;
  const config = loaded.config;
  const cacheDir = resolveCacheDir(config.cacheDir, loaded.baseDirOf(['cacheDir']));
  const container: DependencyContainer = rootContainer.createChildContainer();
  container.register(tokens.config, { useValue: loaded });
  container.register(tokens.logger, { useValue: logger });

  const created: { kind: ComponentKind; value: { dispose?(): Promise<void> | void }; provenance: Provenance }[] = [];
  const dispose = async () => {
    const errors: unknown[] = [];
    for (const { value } of created.splice(0).reverse()) {
      try {
        await value.dispose?.();
      } catch (error) {
        errors.push(error);
      }
    }
    container.clearInstances();
    if (errors.length) logger.warn(`releasing components: ${errors.map((e) => (e as Error).message).join('; ')}`);
  };

  async function create<K extends ComponentKind>(
    kind: K,
    path: KeyPath,
    subject: SubjectModel | undefined,
  ): Promise<ComponentsByKind[K]> {
    const { plugin, declaration, options: parsedOptions } = resolveComponent(loaded, registry, kind, path);
    const provenance: Provenance = {
      kind,
      component: declaration.name,
      plugin: plugin.meta.name,
      pluginVersion: plugin.meta.version,
    };
    if (declaration.needs?.includes('subject-model') && !subject) {
      throw new ExpgenError(`${kind} "${declaration.name}" needs a subject model but none was configured`);
    }
    const context: ComponentContext = {
      provenance,
      baseDir: loaded.baseDirOf([...path, 'options']),
      cacheDir,
      logger,
      ...(subject ? { subject } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
    let value: ComponentsByKind[K];
    try {
      value = (await declaration.create(parsedOptions, context)) as ComponentsByKind[K];
    } catch (error) {
      throw pluginError(plugin.meta.name, `creating ${kind} "${declaration.name}"`, error);
    }
    created.push({
      kind,
      value: value as { dispose?(): Promise<void> | void },
      provenance: (value as { provenance?: Provenance }).provenance ?? provenance,
    });
    return value;
  }

  try {
    const needs = new Set(options.needs);
    for (const kind of [...needs]) {
      const paths: KeyPath[] =
        kind === 'dataset' ? [...config.datasets.keys()].map((i) => ['datasets', i]) : [[SECTION_OF[kind]]];
      for (const path of paths)
        for (const need of resolveComponent(loaded, registry, kind, path).declaration.needs ?? []) needs.add(need);
    }
    let subject: SubjectModel | undefined;
    if (needs.has('subject-model')) {
      subject = await create('subject-model', ['subject'], undefined);
      container.register(tokens.subject, { useValue: subject });
      logger.info(
        `subject: ${subject.info.architecture}, ${subject.info.layers} layers, execution provider ${subject.info.executionProvider}`,
      );
    }
    if (needs.has('activation-source'))
      container.register(tokens.activation, { useValue: await create('activation-source', ['activation'], subject) });
    if (needs.has('dataset')) {
      const datasets: DatasetSource[] = [];
      for (const i of config.datasets.keys()) datasets.push(await create('dataset', ['datasets', i], subject));
      container.register(tokens.datasets, { useValue: datasets });
    }
    if (needs.has('describer'))
      container.register(tokens.describer, { useValue: await create('describer', ['describer'], subject) });
    if (needs.has('simulator'))
      container.register(tokens.simulator, { useValue: await create('simulator', ['simulator'], subject) });
    if (needs.has('scorer'))
      container.register(tokens.scorer, { useValue: await create('scorer', ['scorer'], subject) });
  } catch (error) {
    await dispose();
    throw isExpgenError(error)
      ? error
      : new ExpgenError(`setting up the run failed: ${(error as Error).message}`, { cause: error });
  }

  const optional = <T>(token: InjectionToken<T>): T | undefined =>
    container.isRegistered(token) ? container.resolve(token) : undefined;
  const components: RunComponents = {
    subject: optional(tokens.subject),
    activation: optional(tokens.activation),
    datasets: optional(tokens.datasets),
    describer: optional(tokens.describer),
    simulator: optional(tokens.simulator),
    scorer: optional(tokens.scorer),
  };
  return { components, provenance: created.map((c) => c.provenance), cacheDir, dispose };
}
