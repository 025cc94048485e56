import {
  ExpgenError,
  isExpgenError,
  type ActivationSource,
  type ComponentKind,
  type DatasetSource,
  type Describer,
  type Logger,
  type Provenance,
  type SimulationScorer,
  type Simulator,
  type SubjectModel,
} from '@expgen/contract';
import { CallCache } from '@expgen/plugin-kit';
import { instancePerContainerCachingFactory, container as rootContainer, type DependencyContainer } from 'tsyringe';
import type { StageName } from './stage-config.js';
import { resolveCacheDir } from './cache-dir.js';
import { COMPONENT_TOKENS, registerComponents } from './component-providers.js';
import { createProgress } from './progress.js';
import type { ResolvedConfig } from './resolved-config.js';
import { registerStages, type RunStages } from './run-stages.js';
import { RunLifetime, tokens } from './run-tokens.js';

export { tokens } from './run-tokens.js';

/** The components a run created; a kind it did not need is absent. */
export interface RunComponents {
  readonly subject?: SubjectModel;
  readonly activation?: ActivationSource;
  readonly datasets?: readonly DatasetSource[];
  readonly describer?: Describer;
  readonly simulator?: Simulator;
  /** The scorer best-of-k chooses with. */
  readonly scorer?: SimulationScorer;
}

export interface ComposedRun {
  /** The run's config, the one copy that travels (options parsed once). */
  readonly config: ResolvedConfig;
  readonly components: RunComponents;
  /** The stages asked for, with their collaborators bound. */
  readonly stages: RunStages;
  /** Provenance of every component created, in creation order, for manifests. */
  readonly provenance: readonly Provenance[];
  readonly cacheDir: string;
  /** Releases every component in reverse creation order; safe to call twice. */
  dispose(): Promise<void>;
}

export interface ComposeOptions {
  readonly config: ResolvedConfig;
  /** Component kinds the command uses directly (`expgen model trace`: the subject). */
  readonly needs?: readonly ComponentKind[];
  /**
   * Stages the command runs: each brings the components it declares, and the pipeline's own (the subject and the
   * activation source, which select the features).
   */
  readonly stages?: readonly StageName[];
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  /** Whether stages show progress on standard error (default true; `--json` turns it off). */
  readonly progress?: boolean;
  /**
   * Registrations applied over the defaults, before anything is created: a test swaps any service, component or stage
   * by registering its fake under the same token (`tokens`), e.g. `c.register(tokens.fetch, { useValue: fake })`.
   */
  readonly register?: (container: DependencyContainer) => void;
}

/** What the pipeline needs beside its stages: the features it selects are the activation source's, on the subject. */
const PIPELINE_NEEDS: readonly ComponentKind[] = ['subject-model', 'activation-source'];

const STAGE_TOKENS = {
  exemplars: tokens.exemplarStage,
  describe: tokens.describeStage,
  score: tokens.scoreStage,
} as const;

/**
 * The composition root: the only code that knows tsyringe. One child container per run holds the run's services
 * (logger, cache folder, call cache, progress, clock, fetch), its components (one provider per kind, created on first
 * request by the plugin's async factory, in the order their `needs` demand) and its stages. The command says which
 * components and stages it uses; asking the container for them creates exactly those and what they need. Disposal
 * follows the scope: the run's lifetime releases everything it created in reverse creation order.
 */
export async function composeRun(options: ComposeOptions): Promise<ComposedRun> {
  const scope = createRunContainer(options);
  options.register?.(scope);
  const lifetime = scope.resolve(tokens.lifetime);
  const stageNames = [...new Set(options.stages ?? [])];
  const kinds = [...new Set([...(options.needs ?? []), ...(stageNames.length ? PIPELINE_NEEDS : [])])];

  const dispose = async () => {
    await lifetime.dispose();
    scope.clearInstances();
  };
  // Everything asked for is requested at once: the container orders creation by `needs`, independent components
  // load side by side, and a failure anywhere waits for the rest to settle before releasing what was made.
  const requested = [
    ...kinds.map((kind) => scope.resolve<Promise<unknown>>(COMPONENT_TOKENS[kind])),
    ...stageNames.map((stage) => scope.resolve<Promise<unknown>>(STAGE_TOKENS[stage])),
  ];
  const settled = await Promise.allSettled(requested);
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) {
    await dispose();
    const error = failure.reason;
    throw isExpgenError(error)
      ? error
      : new ExpgenError(`setting up the run failed: ${error instanceof Error ? error.message : String(error)}`, {
          cause: error,
        });
  }

  // Components the run created, whichever request created them (a stage's, or another component's need).
  const created = async <T>(kind: ComponentKind): Promise<T | undefined> =>
    lifetime.has(kind) ? ((await scope.resolve<Promise<unknown>>(COMPONENT_TOKENS[kind])) as T) : undefined;
  const components: RunComponents = {
    subject: await created<SubjectModel>('subject-model'),
    activation: await created<ActivationSource>('activation-source'),
    datasets: await created<readonly DatasetSource[]>('dataset'),
    describer: await created<Describer>('describer'),
    simulator: await created<Simulator>('simulator'),
    scorer: await created<SimulationScorer>('scorer'),
  };
  const stages: RunStages = Object.fromEntries(
    await Promise.all(
      stageNames.map(async (stage) => [stage, await scope.resolve<Promise<unknown>>(STAGE_TOKENS[stage])]),
    ),
  );
  return {
    config: options.config,
    components,
    stages,
    provenance: lifetime.provenance(),
    cacheDir: scope.resolve(tokens.cacheDir),
    dispose,
  };
}

/**
 * A child container for one run with every default registered: services from the config and the options,
 * component providers, stage providers. `composeRun` uses it; tests and library users may resolve from it directly.
 */
export function createRunContainer(
  options: Omit<ComposeOptions, 'needs' | 'stages' | 'register'>,
): DependencyContainer {
  const scope = rootContainer.createChildContainer();
  const { config, logger } = options;
  const clock = { now: () => Date.now() };
  scope.register(tokens.config, { useValue: config });
  scope.register(tokens.logger, { useValue: logger });
  scope.register(tokens.clock, { useValue: clock });
  // tsyringe takes a null useValue for a missing provider: a factory can return null.
  scope.register(tokens.signal, { useFactory: () => options.signal ?? null });
  scope.register(tokens.fetch, { useValue: globalThis.fetch });
  scope.register(tokens.cacheDir, {
    useValue: resolveCacheDir(config.config.cacheDir, config.baseDirOf(['cacheDir'])),
  });
  scope.register(tokens.callCache, {
    useFactory: (c) => {
      const cacheDir = c.resolve(tokens.cacheDir);
      return (namespace: string) => new CallCache(cacheDir, namespace);
    },
  });
  scope.register(tokens.progress, {
    useFactory: (c) => {
      const now = () => c.resolve(tokens.clock).now();
      return options.progress === false ? () => undefined : (o) => createProgress({ now, ...o });
    },
  });
  scope.register(tokens.lifetime, {
    useFactory: instancePerContainerCachingFactory((c) => new RunLifetime(c.resolve(tokens.logger))),
  });
  registerComponents(scope);
  registerStages(scope);
  return scope;
}
