import type {
  ActivationSource,
  CallStore,
  ComponentKind,
  DatasetSource,
  Describer,
  Logger,
  Provenance,
  Scorer,
  SimulationScorer,
  Simulator,
  SubjectModel,
} from '@expgen/contract';
import type { InjectionToken } from 'tsyringe';
import type { ProgressFactory } from './progress.js';
import type { ResolvedConfig } from './resolved-config.js';
import type { DescribeStage, ExemplarStage, ScoreStage } from './run-stages.js';

/** A scorer the run reports, under its name in `scores`; `sameAsSelection`: the selection scorer itself. */
export interface NamedScorer {
  readonly name: string;
  readonly scorer: Scorer;
  readonly sameAsSelection: boolean;
}

/** Milliseconds since the epoch; the run's one clock, so a test can stop time. */
export interface Clock {
  now(): number;
}

/** The durable cache of model calls of one namespace (`describer/openai-compatible`, ...). */
export type CallCacheFactory = (namespace: string) => CallStore;

/**
 * The run's injection tokens: every service, component and stage the container provides, typed. Registration is in
 * `composition-root.ts` (services), `component-providers.ts` (components) and `run-stages.ts` (stages); a test
 * swaps any of them by registering its fake under the same token (`ComposeOptions.register`). Tokens are symbols,
 * not classes, so nothing depends on constructor metadata that type-stripping tools drop.
 */
export const tokens = {
  /** The config, each section's options parsed once by its plugin. */
  config: token<ResolvedConfig>('config'),
  logger: token<Logger>('logger'),
  /** The durable cache folder shared by runs. */
  cacheDir: token<string>('cache-dir'),
  callCache: token<CallCacheFactory>('call-cache'),
  progress: token<ProgressFactory>('progress'),
  clock: token<Clock>('clock'),
  /** The `fetch` the LLM clients send requests through. */
  fetch: token<typeof fetch>('fetch'),
  /** Cancels the run's long work; `null` when the run cannot be cancelled. */
  signal: token<AbortSignal | null>('signal'),
  /** What the run created, in creation order, for disposal in reverse. */
  lifetime: token<RunLifetime>('lifetime'),

  // Components are async: each token holds the promise of the component, memoized per run (one per container).
  subject: token<Promise<SubjectModel>>('subject-model'),
  activation: token<Promise<ActivationSource>>('activation-source'),
  datasets: token<Promise<readonly DatasetSource[]>>('datasets'),
  describer: token<Promise<Describer>>('describer'),
  simulator: token<Promise<Simulator>>('simulator'),
  /** The scorer best-of-k chooses with (`scorer` in the config). */
  scorer: token<Promise<SimulationScorer>>('scorer'),
  /** The scorers reported on the test split (`scorers`, or `scorer` alone), by name. */
  reportedScorers: token<Promise<readonly NamedScorer[]>>('reported-scorers'),

  exemplarStage: token<Promise<ExemplarStage>>('stage/exemplars'),
  describeStage: token<Promise<DescribeStage>>('stage/describe'),
  scoreStage: token<Promise<ScoreStage>>('stage/score'),
};

function token<T>(name: string): InjectionToken<T> {
  return Symbol(`expgen.${name}`) as InjectionToken<T>;
}

/** Anything the run releases at its end. */
export interface Disposable {
  dispose?(): Promise<void> | void;
}

/**
 * The run scope's record of what it created, in the order creation finished. A component finishes after everything
 * it awaited, so releasing in reverse order releases every component before what it depends on.
 */
export class RunLifetime {
  private readonly created: {
    readonly kind: ComponentKind;
    readonly provenance: Provenance;
    readonly value: Disposable;
  }[] = [];
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly logger: Logger) {}

  /** Records a created component. */
  add(kind: ComponentKind, provenance: Provenance, value: Disposable): void {
    this.created.push({ kind, provenance, value });
  }

  /** Whether a component of `kind` was created in this run. */
  has(kind: ComponentKind): boolean {
    return this.created.some((c) => c.kind === kind);
  }

  /** Records a creation in flight, so a failed run waits for it before releasing what was made. */
  track(creation: Promise<unknown>): void {
    this.pending.add(creation);
    const done = () => this.pending.delete(creation);
    creation.then(done, done);
  }

  /** Resolves once no creation is in flight (failed ones included). */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  /** Provenance of every component created so far, in creation order. */
  provenance(): Provenance[] {
    return this.created.map((c) => c.provenance);
  }

  /** Releases everything in reverse creation order; errors are collected and logged, never stop the rest. */
  async dispose(): Promise<void> {
    await this.settled();
    const errors: string[] = [];
    for (const { value } of this.created.splice(0).reverse()) {
      try {
        await value.dispose?.();
      } catch (error) {
        errors.push(error instanceof Error ? error.message : String(error));
      }
    }
    if (errors.length) this.logger.warn(`releasing components: ${errors.join('; ')}`);
  }
}
