import { allocate } from './checks.js';

/**
 * Where a state's big arrays live. `private`: ordinary ArrayBuffers. `shared`: SharedArrayBuffers, so that the
 * host's merge workers (exemplars/host/) update disjoint feature ranges of one state in place while the main
 * thread reads the same memory for thresholds, checkpoints and files — nothing is copied between threads.
 */
export type StateMemory = 'private' | 'shared';

interface TypedArrayConstructor<T> {
  new (length: number): T;
  new (buffer: SharedArrayBuffer): T;
  readonly BYTES_PER_ELEMENT: number;
}

/** One of a state's arrays, zero-filled, in `memory`; allocation failures name the state and the array. */
export function stateArray<T>(
  state: string,
  what: string,
  ctor: TypedArrayConstructor<T>,
  length: number,
  memory: StateMemory = 'private',
): T {
  return allocate(state, what, length, (n) =>
    memory === 'shared' ? new ctor(new SharedArrayBuffer(n * ctor.BYTES_PER_ELEMENT)) : new ctor(n),
  );
}

/** `source` copied into a new array of the same type in `memory` (restoring a checkpoint into shared memory). */
export function copyInto<T extends Float32Array | Float64Array | Int32Array>(
  state: string,
  what: string,
  source: T,
  memory: StateMemory,
): T {
  if (memory === 'private') return source;
  const ctor = source.constructor as unknown as TypedArrayConstructor<T>;
  const copy = stateArray(state, what, ctor, source.length, memory);
  (copy as unknown as T).set(source as never);
  return copy;
}

/** Whether every array is backed by a SharedArrayBuffer (what a worker needs to attach to a state). */
export function isShared(...arrays: readonly ArrayBufferView[]): boolean {
  return arrays.every((array) => array.buffer instanceof SharedArrayBuffer);
}
