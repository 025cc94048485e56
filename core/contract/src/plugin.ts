import type { Schema } from './schema.js';
import type { ActivationSource } from './activation-source.js';
import type { DatasetSource } from './dataset-source.js';
import type { Describer } from './describer.js';
import type { ComponentKind, Provenance } from './provenance.js';
import type { Scorer } from './scorer.js';
import type { Simulator } from './simulator.js';
import type { SubjectModel } from './subject-model.js';

/** The interface each component kind implements. */
export interface ComponentsByKind {
  dataset: DatasetSource;
  'subject-model': SubjectModel;
  'activation-source': ActivationSource;
  describer: Describer;
  simulator: Simulator;
  scorer: Scorer;
}

/** Where a component's output goes to the user; plugins never write to the console themselves. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

/**
 * A durable store of model calls, keyed by everything that determines the answer (prompt, model, sampling
 * parameters, seed): `@expgen/plugin-kit`'s `CallCache` is one.
 */
export interface CallStore {
  get<T>(request: unknown): Promise<T | undefined>;
  put(request: unknown, value: unknown): Promise<void>;
}

/** What a component factory gets besides its own options. Collaborators arrive as arguments, never resolved. */
export interface ComponentContext {
  /** Stamp this on everything the component returns. */
  readonly provenance: Provenance;
  /** Folder that relative paths in the component's options are resolved against (the config file's folder). */
  readonly baseDir: string;
  /** Durable cache shared by runs (`$XDG_CACHE_HOME/expgen` or `~/.cache/expgen` unless configured). */
  readonly cacheDir: string;
  readonly logger: Logger;
  /** The run's subject, for components that declare `needs: ['subject-model']`. */
  readonly subject?: SubjectModel;
  readonly signal?: AbortSignal;
  /**
   * The `fetch` HTTP clients send requests through (default: the global one): the run's, so a test swaps the network
   * for a loopback server or a fake, as the Vercel AI SDK's providers take it.
   */
  readonly fetch?: typeof fetch;
  /** The run's durable call cache of one namespace (default: `CallCache` over `cacheDir`). */
  readonly callCache?: (namespace: string) => CallStore;
}

/** The context of a component that declared `needs: ['subject-model']`: the subject is always there. */
export type ContextWithSubject = ComponentContext & { readonly subject: SubjectModel };

/** The context `create` gets for the given `needs`: declaring the subject makes `context.subject` non-optional. */
export type ContextFor<N extends readonly ComponentNeed[]> = N extends readonly []
  ? ComponentContext
  : 'subject-model' extends N[number]
    ? ContextWithSubject
    : ComponentContext;

/** Collaborators a component may declare it needs. */
export type ComponentNeed = 'subject-model';

/**
 * One component a plugin provides. `options` validates and defaults the component's section of the config;
 * `create` does the async setup (loading weights, opening ONNX sessions) before the run is wired.
 */
export interface ComponentDeclaration<
  K extends ComponentKind = ComponentKind,
  O = unknown,
  N extends readonly ComponentNeed[] = readonly ComponentNeed[],
> {
  readonly kind: K;
  /** Name the config selects it by (`component: mlp`); unique per kind within a plugin. */
  readonly name: string;
  /** One sentence for `expgen plugins`. */
  readonly description: string;
  readonly options: Schema<O>;
  /** Collaborators the factory needs; the container creates them first and `create` finds them in its context. */
  readonly needs?: N;
  create(options: O, context: ContextFor<N>): Promise<ComponentsByKind[K]>;
  /**
   * Subject models only: turns a source folder (e.g. a Hugging Face checkpoint) into the folder `create` loads,
   * for `expgen model build`.
   */
  readonly build?: (
    source: string,
    out: string,
    options: Readonly<Record<string, unknown>>,
    context: Omit<ComponentContext, 'provenance' | 'subject'>,
  ) => Promise<{ readonly out: string; readonly summary: string }>;
}

/** Any component declaration, whatever its kind and options. */
// biome-ignore lint/suspicious/noExplicitAny: options and needs differ per declaration; each declaration checks its own
export type AnyComponentDeclaration = ComponentDeclaration<ComponentKind, any, any>;

/** A plugin is a plain object: who it is and the components it provides. The module's default export. */
export interface ExpgenPlugin {
  readonly meta: {
    /** The npm package name. */
    readonly name: string;
    readonly version: string;
    readonly description?: string;
    /** Contract version the plugin was written for. */
    readonly apiVersion: 1;
  };
  readonly components: readonly AnyComponentDeclaration[];
}

/** Typed helpers for plugin authors: they only check types and return their argument. */
export function definePlugin(plugin: ExpgenPlugin): ExpgenPlugin {
  return plugin;
}

/**
 * Declares a component, typed by its kind, options schema and needs: with `needs: ['subject-model']`,
 * `context.subject` is a `SubjectModel` inside `create`, no `!` needed.
 */
export function defineComponent<K extends ComponentKind, O, const N extends readonly ComponentNeed[] = readonly []>(
  declaration: ComponentDeclaration<K, O, N>,
): ComponentDeclaration<K, O, N> {
  return declaration;
}

export const CONTRACT_VERSION = 1;
