import type { GraphBuilder } from './graph-builder.js';
import type { BaseGraph, VariantSpec } from './hook-variants.js';
import { attributeInt, DataType, int, type GraphProto, type NodeProto } from './onnx-proto.js';

/** The logits outputs of hook variants: the last real position's, and a selection of vocabulary ids. */

/**
 * Logits of the requested vocabulary ids only. At every position they come from those rows of the output projection
 * alone when the graph's shape allows (no [batch, seq, vocab] product at all); otherwise, and for the last position,
 * from a Gather on the vocabulary axis before the cast. Either way only [batch, (seq,) ids] leaves the graph.
 */
export function addSelectedLogits(
  graph: GraphProto,
  b: GraphBuilder,
  base: BaseGraph,
  spec: VariantSpec,
  output: string,
): void {
  b.scoped('selected_logits', () => {
    const ids = b.int64Constant(spec.logitIds!);
    const cast = base.logitsElemType !== DataType.FLOAT;
    let source: string;
    let axis: number;
    const fromHead = spec.logits === 'all' ? addHeadRowLogits(graph, b, base, ids, spec.logitIds!.length) : null;
    if (fromHead !== null) {
      b.opTo(output, cast ? 'Cast' : 'Identity', [fromHead], cast ? { to: int(DataType.FLOAT) } : undefined);
      return;
    }
    if (spec.logits === 'all') {
      [source, axis] = [base.logits, 2];
    } else if (base.lastLogits) {
      [source, axis] = [base.lastLogits, 1];
    } else {
      [source, axis] = [addLastLogits(b, base), 1];
    }
    const picked = b.op('Gather', [source, ids], { axis: int(axis) });
    b.opTo(output, cast ? 'Cast' : 'Identity', [picked], cast ? { to: int(DataType.FLOAT) } : undefined);
  });
}

/**
 * Logits of `ids` at every position from only those rows of the output projection, [batch, seq, ids], when the graph's
 * logits are one Gemm (transB) or MatMul by a weight initializer followed by Reshape / Cast / Identity steps (expgen's
 * built graphs; optimum exports). Null when the graph is shaped otherwise (e.g. quantized MatMulNBits heads).
 */
function addHeadRowLogits(
  graph: GraphProto,
  b: GraphBuilder,
  base: BaseGraph,
  ids: string,
  count: number,
): string | null {
  const producers = new Map<string, NodeProto>();
  for (const node of graph.node ?? []) for (const output of node.output ?? []) producers.set(output, node);
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const steps: NodeProto[] = [];
  let node = producers.get(base.logits);
  while (node !== undefined && (node.opType === 'Reshape' || node.opType === 'Cast' || node.opType === 'Identity')) {
    steps.push(node);
    node = producers.get(node.input![0]!);
  }
  if (node === undefined) return null;
  const [rows, weight, bias] = node.input ?? [];
  if (rows === undefined || weight === undefined || !initializers.has(weight)) return null;
  let projected: string;
  if (node.opType === 'Gemm') {
    const alpha = node.attribute?.find((a) => a.name === 'alpha')?.f ?? 1;
    const beta = node.attribute?.find((a) => a.name === 'beta')?.f ?? 1;
    if (
      (attributeInt(node, 'transA') ?? 0) !== 0 ||
      attributeInt(node, 'transB') !== 1 ||
      alpha !== 1 ||
      beta !== 1 ||
      (bias !== undefined && bias !== '')
    )
      return null;
    projected = b.op('Gemm', [rows, b.op('Gather', [weight, ids], { axis: int(0) })], { transB: int(1) });
  } else if (node.opType === 'MatMul') {
    projected = b.op('MatMul', [rows, b.op('Gather', [weight, ids], { axis: int(1) })]);
  } else {
    return null;
  }
  for (const step of steps.reverse()) {
    if (step.opType === 'Cast') projected = b.op('Cast', [projected], { to: int(attributeInt(step, 'to')!) });
    // The graph's Reshape makes [rows, vocab] into [batch, seq, vocab]; this one makes [rows, ids] into [batch, seq, ids].
    if (step.opType === 'Reshape')
      projected = b.op('Reshape', [
        projected,
        b.op('Concat', [b.op('Shape', [base.inputIds]), b.int64Constant([count])], { axis: int(0) }),
      ]);
  }
  return projected;
}

/**
 * Logits at each row's last real position, for graphs that compute them only at every position: the last 1 in
 * attention_mask[:, past:] (right padding in forward passes, left padding in generation) picks the row. Cast to
 * float32 into `output`, or, without one, returned as they are.
 */
export function addLastLogits(b: GraphBuilder, base: BaseGraph, output?: string): string {
  return b.scoped('last_logits', () => {
    const seq1d = b.op('Shape', [base.inputIds], { start: int(1), end: int(2) });
    const total1d = b.op('Shape', [base.attentionMask], { start: int(1), end: int(2) });
    const seq = b.op('Squeeze', [seq1d, b.int64Constant([0])]);
    const batch = b.op('Squeeze', [
      b.op('Shape', [base.inputIds], { start: int(0), end: int(1) }),
      b.int64Constant([0]),
    ]);
    const one = b.int64Constant(1);
    const current = b.op('Slice', [base.attentionMask, b.op('Sub', [total1d, seq1d]), total1d, b.int64Constant([1])]);
    const weighted = b.op('Mul', [current, b.op('Range', [one, b.op('Add', [seq, one]), one])]);
    const lastIndex = b.op('ArgMax', [weighted], { axis: int(1), keepdims: int(0) });
    const rows = b.op('Add', [b.op('Mul', [b.op('Range', [b.int64Constant(0), batch, one]), seq]), lastIndex]);
    const picked = b.op('Gather', [b.op('Flatten', [base.logits], { axis: int(2) }), rows], { axis: int(0) });
    // Without an output name the caller gets the logits in the graph's own type (to gather from before casting).
    return output === undefined ? picked : b.opTo(output, 'Cast', [picked], { to: int(DataType.FLOAT) });
  });
}
