import { createHash } from 'node:crypto';
import { ExpgenError, type GraphFragment } from '@expgen/contract';
import type { GraphBuilder } from './graph-builder.js';
import { attributeFromPlain, DataType } from './onnx-proto.js';

/** A fragment constant, renamed into the graph; the caller decides whether it is stored inline or externally. */
export interface FragmentTensor {
  readonly name: string;
  readonly dataType: number;
  readonly dims: readonly number[];
  readonly data: Float32Array | BigInt64Array;
}

/**
 * Appends a GraphFragment's nodes to the graph, reading `input` ([rows, inputWidth] float32). Every name the
 * fragment defines is prefixed with `prefix`, so two fragments (or one fragment at two hooks) never collide.
 * Returns the value holding the fragment's output and its constants.
 */
export function appendFragment(
  b: GraphBuilder,
  fragment: GraphFragment,
  input: string,
  prefix: string,
): { output: string; tensors: FragmentTensor[] } {
  const where = `graph fragment "${fragment.name}"`;
  const renamed = new Map<string, string>([[fragment.input, input]]);
  const tensors: FragmentTensor[] = [];
  for (const tensor of fragment.initializers) {
    const elements = tensor.dims.reduce((a, d) => a * d, 1);
    if (elements !== tensor.data.length) {
      throw new ExpgenError(
        `${where}: initializer "${tensor.name}" has ${tensor.data.length} values but dims [${tensor.dims.join(', ')}]; fix the fragment's plugin`,
      );
    }
    if (renamed.has(tensor.name))
      throw new ExpgenError(`${where}: name "${tensor.name}" is defined twice; fix the fragment's plugin`);
    const name = b.claim(`${prefix}${tensor.name}`);
    renamed.set(tensor.name, name);
    tensors.push({
      name,
      dataType: tensor.data instanceof BigInt64Array ? DataType.INT64 : DataType.FLOAT,
      dims: tensor.dims,
      data: tensor.data,
    });
  }
  fragment.nodes.forEach((node, index) => {
    const inputs = node.inputs.map((name) => {
      if (name === '') return '';
      const value = renamed.get(name);
      if (value === undefined) {
        throw new ExpgenError(
          `${where}: node ${index} (${node.op}) reads "${name}", which no earlier node, initializer or the input "${fragment.input}" defines; fix the fragment's plugin`,
        );
      }
      return value;
    });
    const outputs = node.outputs.map((name) => {
      if (name === '') return '';
      if (renamed.has(name))
        throw new ExpgenError(`${where}: name "${name}" is defined twice; fix the fragment's plugin`);
      const value = b.claim(`${prefix}${name}`);
      renamed.set(name, value);
      return value;
    });
    const attributes = Object.fromEntries(
      Object.entries(node.attributes ?? {}).map(([key, value]) => [key, attributeFromPlain(key, value)]),
    );
    b.node(node.op, inputs, { outputs, attributes, name: `${prefix}${node.op}` });
  });
  const output = renamed.get(fragment.output);
  if (output === undefined || fragment.output === fragment.input) {
    throw new ExpgenError(
      `${where}: output "${fragment.output}" is not produced by any of its nodes; fix the fragment's plugin`,
    );
  }
  return { output, tensors };
}

const digests = new WeakMap<GraphFragment, string>();

/**
 * A digest of everything that changes what a fragment computes (nodes, attributes, constants), so a cached graph
 * is reused only for the same fragment. Memoized per fragment object: constants can be gigabytes.
 */
export function fragmentDigest(fragment: GraphFragment): string {
  const known = digests.get(fragment);
  if (known !== undefined) return known;
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify({
      name: fragment.name,
      input: fragment.input,
      output: fragment.output,
      inputWidth: fragment.inputWidth,
      outputWidth: fragment.outputWidth,
      nodes: fragment.nodes,
    }),
  );
  for (const tensor of fragment.initializers) {
    hash.update(
      JSON.stringify({
        name: tensor.name,
        dims: tensor.dims,
        type: tensor.data instanceof BigInt64Array ? 'int64' : 'float32',
      }),
    );
    hash.update(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
  }
  const digest = hash.digest('hex');
  digests.set(fragment, digest);
  return digest;
}
