/**
 * Hands a batch's arrays to merge workers through one SharedArrayBuffer: the main thread copies each array in once
 * (`pack`), every worker reads views of the same bytes (`unpack`), whatever the number of workers. Structured
 * cloning would copy the batch once per worker (the random rows' full values are megabytes).
 */

type Packable = Float32Array | Float64Array | Int32Array;

/** An array's place in the mailbox. */
export interface ArrayRef {
  readonly __array: 'f32' | 'f64' | 'i32';
  readonly offset: number;
  readonly length: number;
}

/** `T` with every typed array replaced by its ArrayRef: what the message to a worker carries. */
export type Packed<T> = T extends Packable
  ? ArrayRef
  : T extends readonly (infer U)[]
    ? Packed<U>[]
    : T extends object
      ? { [K in keyof T]: Packed<T[K]> }
      : T;

const KINDS = { f32: Float32Array, f64: Float64Array, i32: Int32Array } as const;

function kindOf(array: Packable): ArrayRef['__array'] {
  return array instanceof Float32Array ? 'f32' : array instanceof Float64Array ? 'f64' : 'i32';
}

function isPackable(value: unknown): value is Packable {
  return value instanceof Float32Array || value instanceof Float64Array || value instanceof Int32Array;
}

export class Mailbox {
  private buffer = new SharedArrayBuffer(1 << 16);

  /** Copies every typed array in `tree` into the mailbox (grown as needed); returns the buffer and the refs. */
  pack<T>(tree: T): { buffer: SharedArrayBuffer; packed: Packed<T> } {
    let bytes = 0;
    walk(tree, (array) => {
      bytes += align(array.byteLength);
      return array;
    });
    if (bytes > this.buffer.byteLength)
      this.buffer = new SharedArrayBuffer(Math.max(bytes, 2 * this.buffer.byteLength));
    const memory = new Uint8Array(this.buffer);
    let offset = 0;
    const packed = walk(tree, (array) => {
      memory.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), offset);
      const ref: ArrayRef = { __array: kindOf(array), offset, length: array.length };
      offset += align(array.byteLength);
      return ref;
    }) as Packed<T>;
    return { buffer: this.buffer, packed };
  }
}

/** The tree `pack` packed, with views of `buffer` in place of the refs. */
export function unpack<T>(buffer: SharedArrayBuffer, packed: Packed<T>): T {
  const visit = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value;
    if ('__array' in value) {
      const ref = value as ArrayRef;
      return new KINDS[ref.__array](buffer as unknown as ArrayBuffer, ref.offset, ref.length);
    }
    if (Array.isArray(value)) return value.map(visit);
    return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, visit(child)]));
  };
  return visit(packed) as T;
}

function walk(value: unknown, onArray: (array: Packable) => unknown): unknown {
  if (isPackable(value)) return onArray(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((child) => walk(child, onArray));
  return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, walk(child, onArray)]));
}

function align(bytes: number): number {
  return (bytes + 7) & ~7;
}
