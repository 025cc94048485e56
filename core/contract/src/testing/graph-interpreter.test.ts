import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GraphFragment, GraphFragmentNode, GraphFragmentTensor } from '../graph-fragment.js';
import { runGraphFragment } from './graph-interpreter.js';

const fragment = (
  inputWidth: number,
  outputWidth: number,
  nodes: GraphFragmentNode[],
  initializers: GraphFragmentTensor[] = [],
): GraphFragment => ({ name: 'f', input: 'x', output: 'y', inputWidth, outputWidth, initializers, nodes });

const close = (actual: Float32Array, expected: readonly number[]) => {
  assert.equal(actual.length, expected.length);
  expected.forEach((e, i) => {
    assert.ok(Math.abs(actual[i]! - e) < 1e-5, `[${i}]: ${actual[i]} vs ${e}`);
  });
};

describe('runGraphFragment: the testing kit runs the GraphFragment vocabulary on the host', () => {
  it('Gemm with transB and a broadcast bias, then Relu', () => {
    // W^T is [out=2, in=3]; y = relu(x W + b).
    const f = fragment(
      3,
      2,
      [
        { op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['pre'], attributes: { transB: 1 } },
        { op: 'Relu', inputs: ['pre'], outputs: ['y'] },
      ],
      [
        { name: 'w', dims: [2, 3], data: Float32Array.of(1, 0, 1, 0, 1, -1) },
        { name: 'b', dims: [2], data: Float32Array.of(0.5, 0) },
      ],
    );
    close(runGraphFragment(f, Float32Array.of(1, 2, 3, -1, -2, 0), 2), [4.5, 0, 0, 0]);
  });

  it('row-wise reductions with keepdims, broadcast back (a constant-norm rescale)', () => {
    const f = fragment(2, 2, [
      { op: 'ReduceL2', inputs: ['x'], outputs: ['n'], attributes: { axes: [1], keepdims: 1 } },
      { op: 'Div', inputs: ['x', 'n'], outputs: ['y'] },
    ]);
    close(runGraphFragment(f, Float32Array.of(3, 4, 0, 2), 2), [0.6, 0.8, 0, 1]);
    const mean = fragment(3, 1, [{ op: 'ReduceMean', inputs: ['x'], outputs: ['y'], attributes: { axes: [1] } }]);
    close(runGraphFragment(mean, Float32Array.of(1, 2, 6, 0, 0, 3), 2), [3, 1]);
  });

  it('TopK then ScatterElements into zeros: keep the k largest of each row', () => {
    const f = fragment(
      4,
      4,
      [
        { op: 'TopK', inputs: ['x', 'k'], outputs: ['v', 'i'], attributes: { axis: 1, largest: 1, sorted: 1 } },
        { op: 'Shape', inputs: ['x'], outputs: ['shape'] },
        { op: 'Expand', inputs: ['zero', 'shape'], outputs: ['zeros'] },
        { op: 'ScatterElements', inputs: ['zeros', 'i', 'v'], outputs: ['y'], attributes: { axis: 1 } },
      ],
      [
        { name: 'k', dims: [1], data: BigInt64Array.of(2n) },
        { name: 'zero', dims: [1, 1], data: Float32Array.of(0) },
      ],
    );
    close(runGraphFragment(f, Float32Array.of(1, 5, 3, 4, -1, -2, -3, 0), 2), [0, 5, 0, 4, -1, 0, 0, 0]);
  });

  it('Greater and Where (a JumpReLU)', () => {
    const f = fragment(
      3,
      3,
      [
        { op: 'Greater', inputs: ['x', 't'], outputs: ['above'] },
        { op: 'Where', inputs: ['above', 'x', 'zero'], outputs: ['y'] },
      ],
      [
        { name: 't', dims: [3], data: Float32Array.of(0, 1, 2) },
        { name: 'zero', dims: [1], data: Float32Array.of(0) },
      ],
    );
    close(runGraphFragment(f, Float32Array.of(0.5, 0.5, 2.5), 1), [0.5, 0, 2.5]);
  });

  it('refuses an op outside its vocabulary by name, and a wrongly shaped output', () => {
    assert.throws(
      () => runGraphFragment(fragment(1, 1, [{ op: 'Einsum', inputs: ['x'], outputs: ['y'] }]), Float32Array.of(1), 1),
      /graph fragment "f": node 0 is Einsum, which the testing kit's interpreter does not run \(it runs Identity, Neg/,
    );
    assert.throws(
      () => runGraphFragment(fragment(2, 3, [{ op: 'Neg', inputs: ['x'], outputs: ['y'] }]), Float32Array.of(1, 2), 1),
      /output has dims \[1, 2\], expected \[1, 3\]/,
    );
  });
});
