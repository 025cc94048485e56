import type { GraphFragment, GraphFragmentNode } from '../graph-fragment.js';

/**
 * A small host interpreter of the GraphFragment op vocabulary (ONNX opset 17 semantics, float32 values), so the
 * testing kit can run an activation source's fragment without ONNX Runtime: the fake subject runs fragments with it,
 * and the contract suite compares what it computes with the source's host `encode`. It is a reference, not an
 * engine: it favours plain loops over speed, and a fragment using an op outside its vocabulary is refused by name.
 */
type Data = Float32Array | BigInt64Array | Uint8Array;

interface Tensor {
  readonly dims: readonly number[];
  readonly data: Data;
}

type Attributes = Readonly<Record<string, number | string | readonly number[]>>;
type Op = (inputs: readonly (Tensor | undefined)[], attributes: Attributes) => Tensor[];

/** Runs `fragment` on `input` ([rows, inputWidth] float32) and returns its output, [rows, outputWidth] float32. */
export function runGraphFragment(fragment: GraphFragment, input: Float32Array, rows: number): Float32Array {
  const where = `graph fragment "${fragment.name}"`;
  if (input.length !== rows * fragment.inputWidth)
    throw new Error(`${where}: ${input.length} input values for ${rows} x ${fragment.inputWidth}`);
  const values = new Map<string, Tensor>([[fragment.input, { dims: [rows, fragment.inputWidth], data: input }]]);
  for (const tensor of fragment.initializers) values.set(tensor.name, { dims: tensor.dims, data: tensor.data });
  fragment.nodes.forEach((node: GraphFragmentNode, index) => {
    const op = OPS[node.op];
    if (!op) {
      throw new Error(
        `${where}: node ${index} is ${node.op}, which the testing kit's interpreter does not run (it runs ${Object.keys(OPS).join(', ')}); run the contract suite with a subject that runs graphs (fixtures.subject)`,
      );
    }
    const inputs = node.inputs.map((name) => {
      if (name === '') return undefined;
      const value = values.get(name);
      if (!value) throw new Error(`${where}: node ${index} (${node.op}) reads "${name}", which nothing defines`);
      return value;
    });
    const outputs = op(inputs, node.attributes ?? {});
    node.outputs.forEach((name, k) => {
      if (name !== '' && outputs[k]) values.set(name, outputs[k]);
    });
  });
  const output = values.get(fragment.output);
  if (!output) throw new Error(`${where}: its output "${fragment.output}" is never computed`);
  const expected = [rows, fragment.outputWidth];
  if (output.dims.length !== 2 || output.dims[0] !== rows || output.dims[1] !== fragment.outputWidth)
    throw new Error(`${where}: output has dims [${output.dims.join(', ')}], expected [${expected.join(', ')}]`);
  return toFloat(output).data as Float32Array;
}

// ---- tensors -------------------------------------------------------------------------------------------------

const size = (dims: readonly number[]) => dims.reduce((a, d) => a * d, 1);
const read = (t: Tensor, i: number): number => Number(t.data[i]!);
const float = (dims: readonly number[], data: Float32Array): Tensor => ({ dims, data });
const numbers = (t: Tensor): number[] => Array.from(t.data as ArrayLike<number | bigint>, Number);
const toFloat = (t: Tensor): Tensor =>
  t.data instanceof Float32Array ? t : float(t.dims, Float32Array.from(numbers(t)));
const ints = (t: Tensor | undefined): number[] => (t ? numbers(t) : []);
const need = (t: Tensor | undefined, what: string): Tensor => {
  if (!t) throw new Error(`missing input ${what}`);
  return t;
};
const axisOf = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

function strides(dims: readonly number[]): number[] {
  const out = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) out[i] = out[i + 1]! * dims[i + 1]!;
  return out;
}

function broadcastDims(...all: readonly (readonly number[])[]): number[] {
  const rank = Math.max(...all.map((d) => d.length));
  return Array.from({ length: rank }, (_, i) => {
    let dim = 1;
    for (const dims of all) {
      const d = dims[dims.length - rank + i] ?? 1;
      if (d !== 1 && dim !== 1 && d !== dim)
        throw new Error(`shapes [${all.map((x) => x.join(', ')).join('] and [')}] do not broadcast`);
      if (d !== 1) dim = d;
    }
    return dim;
  });
}

/** `fn` applied elementwise over the numpy broadcast of `inputs`. */
function elementwise(inputs: readonly Tensor[], fn: (...values: number[]) => number, bool = false): Tensor {
  const dims = broadcastDims(...inputs.map((t) => t.dims));
  const out = bool ? new Uint8Array(size(dims)) : new Float32Array(size(dims));
  const outStrides = strides(dims);
  const inStrides = inputs.map((t) => {
    const own = strides(t.dims);
    return dims.map((_, i) => {
      const k = i - (dims.length - t.dims.length);
      return k < 0 || t.dims[k] === 1 ? 0 : own[k]!;
    });
  });
  const args = new Array<number>(inputs.length);
  for (let index = 0; index < out.length; index++) {
    inputs.forEach((t, n) => {
      let offset = 0;
      let rest = index;
      for (let i = 0; i < dims.length; i++) {
        const coordinate = Math.floor(rest / outStrides[i]!);
        rest -= coordinate * outStrides[i]!;
        offset += coordinate * inStrides[n]![i]!;
      }
      args[n] = read(t, offset);
    });
    const value = fn(...args);
    out[index] = bool ? (value ? 1 : 0) : value;
  }
  return { dims, data: out };
}

const unary =
  (fn: (x: number) => number): Op =>
  ([x]) => [elementwise([need(x, 'X')], fn)];
const binary =
  (fn: (a: number, b: number) => number, bool = false): Op =>
  ([a, b]) => [elementwise([need(a, 'A'), need(b, 'B')], fn, bool)];
const variadic =
  (fn: (a: number, b: number) => number): Op =>
  (inputs) => [(inputs as Tensor[]).reduce((acc, t) => elementwise([acc, t], fn))];

/** Reduction over `axes` (all when empty) with ONNX's keepdims. */
function reduce(
  x: Tensor,
  axes: readonly number[],
  keepdims: boolean,
  start: number,
  step: (acc: number, v: number) => number,
  finish: (acc: number, count: number) => number = (acc) => acc,
): Tensor {
  const rank = x.dims.length;
  const reduced = new Set((axes.length ? axes : x.dims.map((_, i) => i)).map((a) => axisOf(a, rank)));
  const keptDims = x.dims.map((d, i) => (reduced.has(i) ? 1 : d));
  const acc = new Float64Array(size(keptDims)).fill(start);
  const inStrides = strides(x.dims);
  const outStrides = strides(keptDims);
  for (let index = 0; index < x.data.length; index++) {
    let rest = index;
    let target = 0;
    for (let i = 0; i < rank; i++) {
      const coordinate = Math.floor(rest / inStrides[i]!);
      rest -= coordinate * inStrides[i]!;
      if (!reduced.has(i)) target += coordinate * outStrides[i]!;
    }
    acc[target] = step(acc[target]!, read(x, index));
  }
  const count = x.dims.reduce((n, d, i) => (reduced.has(i) ? n * d : n), 1);
  const data = Float32Array.from(acc, (v) => finish(v, count));
  return float(keepdims ? keptDims : x.dims.filter((_, i) => !reduced.has(i)), data);
}

const reduceOp =
  (start: number, step: (acc: number, v: number) => number, finish?: (acc: number, count: number) => number): Op =>
  ([x, axesInput], attributes) => {
    const axes = attributes.axes !== undefined ? (attributes.axes as number[]) : ints(axesInput);
    return [reduce(need(x, 'data'), axes, (attributes.keepdims ?? 1) !== 0, start, step, finish)];
  };

/** Visits every line of `dims` along `axis`: `visit(offsets)` with the flat offsets of the line's elements. */
function lines(dims: readonly number[], axis: number, visit: (offsets: number[]) => void): void {
  const inner = size(dims.slice(axis + 1));
  const outer = size(dims.slice(0, axis));
  const length = dims[axis]!;
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) visit(Array.from({ length }, (_, k) => (o * length + k) * inner + i));
}

function matmul(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  const [m, k] = transA ? [a.dims[1]!, a.dims[0]!] : [a.dims.at(-2)!, a.dims.at(-1)!];
  const [k2, n] = transB ? [b.dims[1]!, b.dims[0]!] : [b.dims[0]!, b.dims[1]!];
  if (k !== k2 || b.dims.length !== 2 || a.dims.length !== 2)
    throw new Error(`MatMul of [${a.dims.join(', ')}] and [${b.dims.join(', ')}]: the interpreter runs 2-D products`);
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++)
        sum += read(a, transA ? p * m + i : i * k + p) * read(b, transB ? j * k + p : p * n + j);
      out[i * n + j] = sum;
    }
  return float([m, n], out);
}

const OPS: Readonly<Record<string, Op>> = {
  Identity: ([x]) => [need(x, 'X')],
  Neg: unary((x) => -x),
  Abs: unary(Math.abs),
  Relu: unary((x) => Math.max(0, x)),
  Sqrt: unary(Math.sqrt),
  Exp: unary(Math.exp),
  Log: unary(Math.log),
  Reciprocal: unary((x) => 1 / x),
  Floor: unary(Math.floor),
  Ceil: unary(Math.ceil),
  Sigmoid: unary((x) => 1 / (1 + Math.exp(-x))),
  Tanh: unary(Math.tanh),
  Add: binary((a, b) => a + b),
  Sub: binary((a, b) => a - b),
  Mul: binary((a, b) => a * b),
  Div: binary((a, b) => a / b),
  Pow: binary((a, b) => a ** b),
  Max: variadic(Math.max),
  Min: variadic(Math.min),
  Greater: binary((a, b) => (a > b ? 1 : 0), true),
  Less: binary((a, b) => (a < b ? 1 : 0), true),
  GreaterOrEqual: binary((a, b) => (a >= b ? 1 : 0), true),
  LessOrEqual: binary((a, b) => (a <= b ? 1 : 0), true),
  Equal: binary((a, b) => (a === b ? 1 : 0), true),
  Where: ([c, x, y]) => [elementwise([need(c, 'condition'), need(x, 'X'), need(y, 'Y')], (k, a, b) => (k ? a : b))],
  Clip: ([x, low, high]) => {
    const [lo, hi] = [low ? read(low, 0) : -Infinity, high ? read(high, 0) : Infinity];
    return [elementwise([need(x, 'input')], (v) => Math.min(hi, Math.max(lo, v)))];
  },
  Cast: ([x], { to }) => {
    const t = need(x, 'input');
    if (to === 1) return [toFloat(t)];
    if (to === 7) return [{ dims: t.dims, data: BigInt64Array.from(numbers(t), (v) => BigInt(Math.trunc(v))) }];
    if (to === 9) return [{ dims: t.dims, data: Uint8Array.from(numbers(t), (v) => (v ? 1 : 0)) }];
    throw new Error(`Cast to ONNX type ${String(to)}: the interpreter casts to float (1), int64 (7) and bool (9)`);
  },
  MatMul: ([a, b]) => [matmul(need(a, 'A'), need(b, 'B'), false, false)],
  Gemm: ([a, b, c], attributes) => {
    const product = matmul(need(a, 'A'), need(b, 'B'), attributes.transA === 1, attributes.transB === 1);
    const alpha = (attributes.alpha as number | undefined) ?? 1;
    const beta = (attributes.beta as number | undefined) ?? 1;
    if (!c) return [elementwise([product], (v) => alpha * v)];
    return [elementwise([product, c], (v, w) => alpha * v + beta * w)];
  },
  ReduceSum: reduceOp(0, (acc, v) => acc + v),
  ReduceMean: reduceOp(
    0,
    (acc, v) => acc + v,
    (acc, count) => acc / count,
  ),
  ReduceMax: reduceOp(-Infinity, Math.max),
  ReduceMin: reduceOp(Infinity, Math.min),
  ReduceSumSquare: reduceOp(0, (acc, v) => acc + v * v),
  ReduceL2: reduceOp(
    0,
    (acc, v) => acc + v * v,
    (acc) => Math.sqrt(acc),
  ),
  Softmax: ([x], attributes) => {
    const t = toFloat(need(x, 'input'));
    const out = new Float32Array(t.data.length);
    lines(t.dims, axisOf((attributes.axis as number | undefined) ?? -1, t.dims.length), (offsets) => {
      const top = Math.max(...offsets.map((o) => read(t, o)));
      const exps = offsets.map((o) => Math.exp(read(t, o) - top));
      const total = exps.reduce((a, b) => a + b, 0);
      offsets.forEach((o, i) => {
        out[o] = exps[i]! / total;
      });
    });
    return [float(t.dims, out)];
  },
  TopK: ([x, kInput], attributes) => {
    const t = need(x, 'X');
    const k = ints(need(kInput, 'K'))[0]!;
    const axis = axisOf((attributes.axis as number | undefined) ?? -1, t.dims.length);
    const largest = (attributes.largest ?? 1) !== 0;
    const dims = t.dims.map((d, i) => (i === axis ? k : d));
    const values = new Float32Array(size(dims));
    const indices = new BigInt64Array(size(dims));
    const outLines: number[][] = [];
    lines(dims, axis, (offsets) => outLines.push(offsets));
    let line = 0;
    lines(t.dims, axis, (offsets) => {
      // Ties keep the lower index first, as ONNX Runtime does.
      const order = offsets
        .map((o, i) => [read(t, o), i] as const)
        .sort((p, q) => (largest ? q[0] - p[0] : p[0] - q[0]) || p[1] - q[1]);
      outLines[line++]!.forEach((o, r) => {
        values[o] = order[r]![0];
        indices[o] = BigInt(order[r]![1]);
      });
    });
    return [float(dims, values), { dims, data: indices }];
  },
  Shape: ([x]) => [{ dims: [need(x, 'data').dims.length], data: BigInt64Array.from(need(x, 'data').dims, BigInt) }],
  Expand: ([x, shape]) => {
    const t = need(x, 'input');
    const dims = broadcastDims(t.dims, ints(need(shape, 'shape')));
    return [elementwise([t, { dims, data: new Float32Array(size(dims)) }], (v) => v, t.data instanceof Uint8Array)];
  },
  Reshape: ([x, shape]) => {
    const t = need(x, 'data');
    const dims = ints(need(shape, 'shape')).map((d, i) => (d === 0 ? t.dims[i]! : d));
    const known = dims.filter((d) => d !== -1).reduce((a, d) => a * d, 1);
    return [{ dims: dims.map((d) => (d === -1 ? t.data.length / known : d)), data: t.data }];
  },
  Transpose: ([x], attributes) => {
    const t = need(x, 'data');
    const perm = (attributes.perm as number[] | undefined) ?? t.dims.map((_, i) => t.dims.length - 1 - i);
    const dims = perm.map((p) => t.dims[p]!);
    const inStrides = strides(t.dims);
    const outStrides = strides(dims);
    const data = new (t.data.constructor as new (n: number) => Data)(t.data.length);
    for (let index = 0; index < data.length; index++) {
      let rest = index;
      let offset = 0;
      perm.forEach((p, i) => {
        const coordinate = Math.floor(rest / outStrides[i]!);
        rest -= coordinate * outStrides[i]!;
        offset += coordinate * inStrides[p]!;
      });
      data[index] = t.data[offset]!;
    }
    return [{ dims, data }];
  },
  ScatterElements: ([d, i, u], attributes) => {
    const data = toFloat(need(d, 'data'));
    const indices = need(i, 'indices');
    const updates = need(u, 'updates');
    const axis = axisOf((attributes.axis as number | undefined) ?? 0, data.dims.length);
    const out = Float32Array.from(data.data as Float32Array);
    const dataStrides = strides(data.dims);
    const indexStrides = strides(indices.dims);
    for (let n = 0; n < indices.data.length; n++) {
      let rest = n;
      let target = 0;
      indices.dims.forEach((_, a) => {
        let coordinate = Math.floor(rest / indexStrides[a]!);
        rest -= coordinate * indexStrides[a]!;
        if (a === axis) coordinate = axisOf(read(indices, n), data.dims[axis]!);
        target += coordinate * dataStrides[a]!;
      });
      out[target] = read(updates, n);
    }
    return [float(data.dims, out)];
  },
};

/** The ops the interpreter runs, for documentation and messages. */
export const INTERPRETED_OPS: readonly string[] = Object.keys(OPS);
