import {
  ExpgenError,
  isJudgeScorer,
  type ComponentContext,
  type ComponentKind,
  type ComponentNeed,
  type ComponentsByKind,
  type Provenance,
  type SimulationScorer,
} from '@expgen/contract';
import { instancePerContainerCachingFactory, type DependencyContainer, type InjectionToken } from 'tsyringe';
import { stampComponent, stampPluginError } from './plugin-calls.js';
import type { ResolvedComponent } from './resolved-config.js';
import { tokens } from './run-tokens.js';

/** The token each component kind is provided under (datasets: the list of the config's datasets). */
export const COMPONENT_TOKENS = {
  'subject-model': tokens.subject,
  'activation-source': tokens.activation,
  dataset: tokens.datasets,
  describer: tokens.describer,
  simulator: tokens.simulator,
  scorer: tokens.scorer,
} as const satisfies Record<ComponentKind, InjectionToken<Promise<unknown>>>;

/** The token a declared need is resolved from. */
// (`scorer` is the selection scorer's token; the reported scorers have their own, `reportedScorers`.)
const NEED_TOKENS = { 'subject-model': tokens.subject } as const satisfies Record<ComponentNeed, unknown>;

/**
 * Registers every component kind as a provider: a factory that creates the config's component with its plugin's
 * async `create`, memoized per run scope (tsyringe's factories are synchronous, so the factory returns the memoized
 * promise). A declaration's `needs` are resolved by asking the container, so a component is created after what it
 * needs, whatever order the stages ask in; nothing here lists an order. The created component is stamped (every
 * error from every method names plugin, component and method) and recorded for disposal in the run's lifetime.
 */
export function registerComponents(container: DependencyContainer): void {
  for (const kind of ['subject-model', 'activation-source', 'describer', 'simulator'] as const) {
    container.register<Promise<unknown>>(COMPONENT_TOKENS[kind], {
      useFactory: instancePerContainerCachingFactory((c) => {
        const [section] = c.resolve(tokens.config).components(kind);
        return createComponent(c, section!) as Promise<never>;
      }),
    });
  }
  // The scorer best-of-k chooses with: it compares simulations (a judge could not rank 50 candidates per sign).
  container.register(tokens.scorer, {
    useFactory: instancePerContainerCachingFactory(async (c) => {
      const config = c.resolve(tokens.config);
      const section = config.component(['scorer']);
      const scorer = (await createComponent(c, section)) as ComponentsByKind['scorer'];
      if (isJudgeScorer(scorer))
        throw new ExpgenError(
          `${config.sourceOf(['scorer', 'component'])}: scorer.component: "${section.declaration.name}" asks a judge model about sequences and cannot choose among candidates; choose with a scorer of simulations (correlation) and report "${section.declaration.name}" under scorers (or --scorer ${section.declaration.name})`,
        );
      return scorer as SimulationScorer;
    }),
  });
  // The scorers reported on the test split; the entry that is the selection scorer is that very instance.
  container.register(tokens.reportedScorers, {
    useFactory: instancePerContainerCachingFactory((c) =>
      Promise.all(
        c
          .resolve(tokens.config)
          .reportedScorers()
          .map(async ({ name, component, sameAsSelection }) => ({
            name,
            sameAsSelection,
            scorer: sameAsSelection
              ? await c.resolve(tokens.scorer)
              : ((await createComponent(c, component)) as ComponentsByKind['scorer']),
          })),
      ),
    ),
  });
  container.register(tokens.datasets, {
    useFactory: instancePerContainerCachingFactory((c) =>
      Promise.all(
        c
          .resolve(tokens.config)
          .components('dataset')
          .map((section) => createComponent(c, section) as Promise<ComponentsByKind['dataset']>),
      ),
    ),
  });
}

/** Creates one resolved config section's component, as the container's provider for its kind. */
async function createComponent(
  c: DependencyContainer,
  section: ResolvedComponent,
): Promise<ComponentsByKind[ComponentKind]> {
  const { plugin, declaration, kind, path, options } = section;
  const who = { kind, component: declaration.name, plugin: plugin.meta.name };
  const lifetime = c.resolve(tokens.lifetime);
  const created = (async () => {
    const needs: readonly ComponentNeed[] = declaration.needs ?? [];
    const collaborators = await Promise.all(needs.map(async (need) => [need, await c.resolve(NEED_TOKENS[need])]));
    const subject = collaborators.find(([need]) => need === 'subject-model')?.[1];
    const provenance: Provenance = { ...who, pluginVersion: plugin.meta.version };
    const signal = c.resolve(tokens.signal);
    const context: ComponentContext = {
      provenance,
      baseDir: c.resolve(tokens.config).baseDirOf([...path, 'options']),
      cacheDir: c.resolve(tokens.cacheDir),
      logger: c.resolve(tokens.logger),
      fetch: c.resolve(tokens.fetch),
      callCache: c.resolve(tokens.callCache),
      ...(subject ? { subject: subject as ComponentsByKind['subject-model'] } : {}),
      ...(signal ? { signal } : {}),
    };
    let value: ComponentsByKind[ComponentKind];
    try {
      value = await declaration.create(options, context);
    } catch (error) {
      throw stampPluginError(who, 'create', error, { userFacing: true });
    }
    const component = stampComponent(value, who);
    if (kind === 'subject-model') {
      const { info } = component as ComponentsByKind['subject-model'];
      context.logger.info(
        `subject: ${info.architecture}, ${info.layers} layers, execution provider ${info.executionProvider}`,
      );
    }
    lifetime.add(kind, component.provenance ?? provenance, component);
    return component;
  })();
  lifetime.track(created);
  return created;
}
