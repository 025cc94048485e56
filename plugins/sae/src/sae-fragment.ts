import type { GraphFragment, GraphFragmentNode, GraphFragmentTensor } from '@expgen/contract';
import type { SaeEncoder } from './sae-encoder.js';

/**
 * The encoder as a graph fragment: the same math as `encodeSae`, in opset-17 operators every execution provider
 * runs (Gemm, Reduce* with `axes` attributes, TopK with K as an input, ScatterElements), appended at the hook so the
 * latents never leave the device except as the subject's reductions.
 */
export function saeFragment(sae: SaeEncoder, name: string): GraphFragment {
  const { dIn, dSae } = sae;
  const initializers: GraphFragmentTensor[] = [];
  const nodes: GraphFragmentNode[] = [];
  const constant = (tensor: string, dims: readonly number[], data: Float32Array | BigInt64Array) => {
    initializers.push({ name: tensor, dims, data });
    return tensor;
  };
  const node = (op: string, inputs: string[], output: string, attributes?: GraphFragmentNode['attributes']) => {
    nodes.push({ op, inputs, outputs: [output], ...(attributes ? { attributes } : {}) });
    return output;
  };

  let x = 'x';
  const norm = sae.normalization;
  if (norm.kind === 'expected_average_only_in') {
    x = node('Mul', [x, constant('norm_factor', [1], Float32Array.of(norm.factor))], 'x_scaled');
  } else if (norm.kind === 'constant_norm_rescale') {
    const length = node('ReduceL2', [x], 'x_norm', { axes: [1], keepdims: 1 });
    const factor = node('Div', [constant('sqrt_d_in', [1], Float32Array.of(Math.sqrt(dIn))), length], 'norm_factor');
    x = node('Mul', [x, factor], 'x_scaled');
  } else if (norm.kind === 'layer_norm') {
    const centered = node('Sub', [x, node('ReduceMean', [x], 'x_mean', { axes: [1], keepdims: 1 })], 'x_centered');
    const squares = node('ReduceSumSquare', [centered], 'x_squares', { axes: [1], keepdims: 1 });
    // torch.std: Bessel's correction, divide by d_in - 1.
    const std = node(
      'Sqrt',
      [node('Div', [squares, constant('d_in_minus_1', [1], Float32Array.of(dIn - 1))], 'x_variance')],
      'x_std',
    );
    x = node(
      'Div',
      [centered, node('Add', [std, constant('ln_eps', [1], Float32Array.of(norm.eps))], 'x_std_eps')],
      'x_scaled',
    );
  }
  if (sae.applyBDecToInput && sae.bDec) x = node('Sub', [x, constant('b_dec', [dIn], sae.bDec)], 'x_centered_b_dec');
  // pre = x W_enc + b_enc, with W_enc held transposed ([d_sae, d_in]) as Gemm's B with transB.
  const pre = node(
    'Gemm',
    [x, constant('W_enc_T', [dSae, dIn], sae.wEncT), constant('b_enc', [dSae], sae.bEnc)],
    'pre',
    { transB: 1 },
  );

  if (sae.architecture === 'standard') {
    node('Relu', [pre], 'latents');
  } else if (sae.architecture === 'jumprelu') {
    const above = node('Greater', [pre, constant('threshold', [dSae], sae.threshold!)], 'above_threshold');
    node('Where', [above, node('Relu', [pre], 'pre_relu'), constant('zero', [1], Float32Array.of(0))], 'latents');
  } else {
    // TopK's outputs are (values, indices); the indices put ReLU(values) back into a zero row.
    nodes.push({
      op: 'TopK',
      inputs: [pre, constant('k', [1], BigInt64Array.of(BigInt(sae.k!)))],
      outputs: ['top_values', 'top_indices'],
      attributes: { axis: 1, largest: 1, sorted: 1 },
    });
    const zeros = node(
      'Expand',
      [constant('zero', [1, 1], Float32Array.of(0)), node('Shape', [pre], 'pre_shape')],
      'zeros',
    );
    node('ScatterElements', [zeros, 'top_indices', node('Relu', ['top_values'], 'top_relu')], 'latents', { axis: 1 });
  }
  return { name, input: 'x', output: 'latents', inputWidth: dIn, outputWidth: dSae, initializers, nodes };
}
