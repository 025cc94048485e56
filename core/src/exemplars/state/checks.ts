import { ExpgenError } from '@expgen/contract';

/**
 * Checks an option of an exemplar state (features, k, seqLen, ...): the values come from a run's config, so a bad
 * one is the user's to fix and is reported as an ExpgenError naming the state and the option.
 */
export function checkCount(state: string, option: string, value: number, min = 1): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ExpgenError(`${state}: option "${option}" must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** Sequence ids index dense float64 storage exactly, so they must be non-negative safe integers. */
export function checkSequenceId(state: string, id: number): number {
  if (!Number.isSafeInteger(id) || id < 0) {
    throw new Error(`${state}: sequence id ${String(id)} is not a non-negative safe integer`);
  }
  return id;
}

/**
 * Allocates one of a state's big arrays, turning V8's bare RangeError into a message that says which state and
 * how big, and what to do about it.
 */
export function allocate<T>(state: string, what: string, length: number, make: (length: number) => T): T {
  try {
    return make(length);
  } catch (error) {
    throw new ExpgenError(
      `${state}: cannot allocate ${what} of ${length.toLocaleString('en-US')} elements (${(error as Error).message}); ` +
        'split the features into smaller groups or lower k / seqLen',
      { cause: error },
    );
  }
}

/** A batch's counted tokens: a non-negative integer. */
export function checkTokens(state: string, tokens: number): void {
  if (!Number.isSafeInteger(tokens) || tokens < 0)
    throw new Error(`${state}: tokens must be a non-negative integer, got ${tokens}`);
}

/** A NaN extreme means broken numerics in the subject; reject the batch before any of it is counted. */
export function checkNoNaN(state: string, values: Float32Array, features: number, what: string): void {
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    if (Number.isNaN(value)) {
      throw new ExpgenError(
        `${state}: the subject returned NaN as the per-sequence ${what} of feature ${i % features} (row ${Math.floor(i / features)}); check the model's numerics (fp16 overflow?)`,
      );
    }
  }
}
