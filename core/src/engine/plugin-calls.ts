import { ExpgenError, isExpgenError, type ComponentKind } from '@expgen/contract';

/** Who a component is, for the stamp on its errors. */
export interface ComponentIdentity {
  readonly kind: ComponentKind;
  readonly component: string;
  readonly plugin: string;
}

const STAMPED = Symbol.for('expgen.plugin-call');
/** On a stamped method's wrapper: the plugin's own function (`unstamped`). */
const ORIGINAL = Symbol.for('expgen.plugin-call.original');

/**
 * An error a plugin's method threw, stamped with the plugin, the component and the method, as Rollup stamps every
 * hook's errors with the plugin and hook: `describer openai-compatible (@expgen/plugin-openai) describe: <message>`.
 * Not an ExpgenError: a plugin's plain error is a fault the user reports, not a mistake they fix.
 */
export class PluginCallError extends Error {
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.name = 'PluginCallError';
  }
}

/** The prefix of every error from `method` of the component: `describer baseline (@expgen/plugin-baseline) describe`. */
export function callLabel(who: ComponentIdentity, method: string): string {
  return `${who.kind} ${who.component} (${who.plugin}) ${method}`;
}

/**
 * Stamps an error thrown by a plugin's method. An ExpgenError stays an ExpgenError with its exit code (the user can
 * act on it); anything else becomes a PluginCallError, or an ExpgenError with `userFacing` (a factory's failure to
 * set up is about the user's files and options more often than not); the original is kept as the cause. Aborts pass
 * unchanged (the run was cancelled, nothing failed), and so does an error this call already stamped.
 */
export function stampPluginError(
  who: ComponentIdentity,
  method: string,
  error: unknown,
  options: { userFacing?: boolean } = {},
): unknown {
  if (isAbort(error)) return error;
  const label = callLabel(who, method);
  if (typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[STAMPED] === label)
    return error;
  const message = `${label}: ${error instanceof Error ? error.message : String(error)}`;
  const stamped = isExpgenError(error)
    ? new ExpgenError(message, { cause: error, exitCode: error.exitCode })
    : options.userFacing
      ? new ExpgenError(message, { cause: error })
      : new PluginCallError(message, { cause: error });
  Object.defineProperty(stamped, STAMPED, { value: label });
  return stamped;
}

function isAbort(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'AbortError';
}

/** Nested objects whose methods are plugin code too, per kind: a subject's tokenizer is the plugin's. */
const NESTED: Partial<Record<ComponentKind, readonly string[]>> = { 'subject-model': ['tokenizer'] };

/**
 * The component seen through one door: every method call (sync, async, or returning an async iterable such as a
 * dataset's `documents()`) has its errors stamped with plugin, component and method. Methods run on the component
 * itself (class instances keep their private fields); values that are not functions pass through unchanged.
 */
export function stampComponent<T extends object>(component: T, who: ComponentIdentity): T {
  return stampObject(component, who, '', NESTED[who.kind] ?? []);
}

function stampObject<T extends object>(
  target: T,
  who: ComponentIdentity,
  prefix: string,
  nested: readonly string[],
): T {
  // One wrapper per property, made on first access: later accesses are a map lookup.
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(object, property) {
      const known = wrapped.get(property);
      if (known !== undefined) return known;
      const value = Reflect.get(object, property, object);
      if (typeof property === 'symbol' || property === 'constructor') return value;
      const method = `${prefix}${property}`;
      let stamped: unknown;
      if (typeof value === 'function')
        stamped = stampFunction(value as (...args: unknown[]) => unknown, object, who, method);
      else if (nested.includes(property) && typeof value === 'object' && value !== null)
        stamped = stampObject(value, who, `${method}.`, []);
      else return value;
      wrapped.set(property, stamped);
      return stamped;
    },
  });
}

function stampFunction(
  fn: (...args: unknown[]) => unknown,
  self: object,
  who: ComponentIdentity,
  method: string,
): (...args: unknown[]) => unknown {
  const wrapper = (...args: unknown[]) => {
    let result: unknown;
    try {
      result = fn.apply(self, args);
    } catch (error) {
      throw stampPluginError(who, method, error);
    }
    // Most calls return plain values (strings, numbers, arrays): they leave without further checks.
    if (result === null || typeof result !== 'object') return result;
    if (isPromiseLike(result)) {
      return Promise.resolve(result).catch((error: unknown) => {
        throw stampPluginError(who, method, error);
      });
    }
    if (isAsyncIterable(result)) return stampAsyncIterable(result, who, method);
    return result;
  };
  Object.defineProperty(wrapper, ORIGINAL, { value: fn });
  return wrapper;
}

/**
 * The plugin's own function behind a stamped method (the function itself when it is not one), for the engine to
 * recognise a function it knows: the correlation scorer's `valueFromMoments` is the kit's `pearsonFromMoments`,
 * which stage 3's worker threads evaluate themselves (`set-scorer.ts`).
 */
export function unstamped<F>(fn: F): F {
  return ((fn as Record<symbol, unknown> | null | undefined)?.[ORIGINAL] as F | undefined) ?? fn;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof (value as { [Symbol.asyncIterator]?: unknown } | null)?.[Symbol.asyncIterator] === 'function';
}

/**
 * An async iterable whose iterators stamp the errors of `next`, `return` and `throw`. When the original is itself an
 * iterator (an async generator object), so is the result, so callers that call `next()` directly keep working.
 */
function stampAsyncIterable(
  iterable: AsyncIterable<unknown>,
  who: ComponentIdentity,
  method: string,
): AsyncIterable<unknown> {
  const stampIterator = (iterator: AsyncIterator<unknown>): AsyncIterableIterator<unknown> => {
    const call =
      (name: 'next' | 'return' | 'throw') =>
      async (...args: unknown[]): Promise<IteratorResult<unknown>> => {
        try {
          return await (iterator[name] as (...a: unknown[]) => Promise<IteratorResult<unknown>>).apply(iterator, args);
        } catch (error) {
          throw stampPluginError(who, method, error);
        }
      };
    return {
      next: call('next'),
      ...(iterator.return ? { return: call('return') } : {}),
      ...(iterator.throw ? { throw: call('throw') } : {}),
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  };
  if (typeof (iterable as Partial<AsyncIterator<unknown>>).next === 'function')
    return stampIterator(iterable as AsyncIterableIterator<unknown>);
  return {
    [Symbol.asyncIterator]: () => {
      try {
        return stampIterator(iterable[Symbol.asyncIterator]());
      } catch (error) {
        throw stampPluginError(who, method, error);
      }
    },
  };
}
