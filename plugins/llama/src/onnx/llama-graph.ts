// The Llama decoder as an ONNX graph in standard opset-17 operators, so every execution provider runs it without
// contrib ops. Layout choices, and why:
//  - The residual stream is float32 [batch*seq, hidden] in every build: fp16 builds keep weights and matmul inputs
//    in fp16, but norms, rotary, attention scores, softmax and residual sums run in float32 (Cast around them).
//  - Linear layers are Gemm(x, W, transB=1) on the Hugging Face [out, in] layout, so weights are streamed into the
//    data file unchanged, and tied embeddings need one copy for Gather and for the head.
//  - Grouped-query attention reshapes queries to [batch, kvHeads, group, seq, headDim] and broadcasts keys and
//    values over the group axis, so K/V are never repeated in memory.
//  - The base graph outputs both `logits` (every position) and `last_logits` (each row's last real position) and
//    the KV cache; hook variants prune what a request does not need.
import { ropeInverseFrequencies, type LlamaConfig } from '../hf/hf-config.js';
import { GraphBuilder } from './graph-builder.js';
import { DataType, int, ints, type GraphProto, type TensorProto } from './onnx-proto.js';

export type BuildDtype = 'fp32' | 'fp16';

export const INPUT_IDS = 'input_ids';
export const ATTENTION_MASK = 'attention_mask';
export const POSITION_IDS = 'position_ids';
export const LOGITS = 'logits';
export const LAST_LOGITS = 'last_logits';
export const pastKeyName = (layer: number): string => `past_key_values.${layer}.key`;
export const pastValueName = (layer: number): string => `past_key_values.${layer}.value`;
export const presentKeyName = (layer: number): string => `present.${layer}.key`;
export const presentValueName = (layer: number): string => `present.${layer}.value`;
export const mlpHookTensor = (layer: number): string => `hook.mlp.${layer}`;
export const residHookTensor = (layer: number): string => `hook.resid.${layer}`;

/** A value in the graph that a hook point reads. */
export interface HookTensor {
  /** Hook point name: `mlp/<layer>` or `resid/<layer>`. */
  readonly name: string;
  /** Name of the graph value; its shape is [batch*seq, width] or [batch, seq, width]. */
  readonly tensor: string;
  readonly width: number;
  /** ONNX element type of the value. */
  readonly elemType: number;
}

/** A weight the checkpoint must provide, with the shape the config implies. */
export interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** Norm weights stay float32 in every build; matrices take the build's dtype. */
  readonly kind: 'matrix' | 'norm';
}

export function llamaWeightSpecs(config: LlamaConfig): WeightSpec[] {
  const { hiddenSize: h, intermediateSize: i, numHeads, numKvHeads, headDim: d, vocabSize: v } = config;
  const specs: WeightSpec[] = [{ name: 'model.embed_tokens.weight', shape: [v, h], kind: 'matrix' }];
  for (let layer = 0; layer < config.numLayers; layer++) {
    const p = `model.layers.${layer}`;
    specs.push(
      { name: `${p}.input_layernorm.weight`, shape: [h], kind: 'norm' },
      { name: `${p}.self_attn.q_proj.weight`, shape: [numHeads * d, h], kind: 'matrix' },
      { name: `${p}.self_attn.k_proj.weight`, shape: [numKvHeads * d, h], kind: 'matrix' },
      { name: `${p}.self_attn.v_proj.weight`, shape: [numKvHeads * d, h], kind: 'matrix' },
      { name: `${p}.self_attn.o_proj.weight`, shape: [h, numHeads * d], kind: 'matrix' },
      { name: `${p}.post_attention_layernorm.weight`, shape: [h], kind: 'norm' },
      { name: `${p}.mlp.gate_proj.weight`, shape: [i, h], kind: 'matrix' },
      { name: `${p}.mlp.up_proj.weight`, shape: [i, h], kind: 'matrix' },
      { name: `${p}.mlp.down_proj.weight`, shape: [h, i], kind: 'matrix' },
    );
  }
  specs.push({ name: 'model.norm.weight', shape: [h], kind: 'norm' });
  if (!config.tieWordEmbeddings) specs.push({ name: 'lm_head.weight', shape: [v, h], kind: 'matrix' });
  return specs;
}

export function headWeightName(config: LlamaConfig): string {
  return config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
}

export interface LlamaGraph {
  readonly graph: GraphProto;
  readonly hooks: readonly HookTensor[];
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** ONNX element type of the KV cache inputs and outputs. */
  readonly kvElemType: number;
}

/**
 * Builds the decoder graph. `weights` maps each Hugging Face tensor name of `llamaWeightSpecs` to its initializer
 * (already written to the data file; the graph refers to it by name).
 */
export function buildLlamaGraph(
  config: LlamaConfig,
  dtype: BuildDtype,
  weights: ReadonlyMap<string, TensorProto>,
): LlamaGraph {
  const b = new GraphBuilder();
  const fp16 = dtype === 'fp16';
  const weightType = fp16 ? DataType.FLOAT16 : DataType.FLOAT;
  const { hiddenSize: hidden, numHeads, numKvHeads, headDim, numLayers, vocabSize } = config;
  const group = numHeads / numKvHeads;

  for (const spec of llamaWeightSpecs(config)) {
    const tensor = weights.get(spec.name);
    if (tensor === undefined) throw new Error(`weight ${spec.name} was not written before building the graph`);
    b.addInitializer(tensor);
  }

  const toCompute = (x: string): string => (fp16 ? b.op('Cast', [x], { to: int(DataType.FLOAT) }) : x);
  const toWeight = (x: string): string => (fp16 ? b.op('Cast', [x], { to: int(DataType.FLOAT16) }) : x);
  const linear = (x: string, weight: string, name: string): string =>
    toCompute(b.op('Gemm', [toWeight(x), weight], { transB: int(1) }, name));

  const inputIds = b.input(INPUT_IDS, DataType.INT64, ['batch', 'sequence']);
  const attentionMask = b.input(ATTENTION_MASK, DataType.INT64, ['batch', 'total_sequence']);
  const positionIds = b.input(POSITION_IDS, DataType.INT64, ['batch', 'sequence']);
  const pastKeys: string[] = [];
  const pastValues: string[] = [];
  for (let layer = 0; layer < numLayers; layer++) {
    pastKeys.push(b.input(pastKeyName(layer), weightType, ['batch', numKvHeads, 'past_sequence', headDim]));
    pastValues.push(b.input(pastValueName(layer), weightType, ['batch', numKvHeads, 'past_sequence', headDim]));
  }

  // Shapes and scalars every layer reuses, computed once from the inputs.
  const shared = b.scoped('shared', () => {
    const batchAndSeq = b.op('Shape', [inputIds]);
    const seq1d = b.op('Shape', [inputIds], { start: int(1), end: int(2) });
    const total1d = b.op('Shape', [attentionMask], { start: int(1), end: int(2) });
    const batch1d = b.op('Shape', [inputIds], { start: int(0), end: int(1) });
    const scalar = (x: string): string => b.op('Squeeze', [x, b.int64Constant([0])]);
    const seq = scalar(seq1d);
    const total = scalar(total1d);
    const batch = scalar(batch1d);
    const queryShape = b.op('Concat', [batchAndSeq, b.int64Constant([numHeads, headDim])], { axis: int(0) });
    const kvShape = b.op('Concat', [batchAndSeq, b.int64Constant([numKvHeads, headDim])], { axis: int(0) });
    const zero = b.int64Constant(0);
    const one = b.int64Constant(1);

    // Causal and padding mask as an additive bias [batch, 1, 1, seq, total]: query i sits at key index past + i.
    // Masked entries get the most negative float rather than -inf, so a fully masked (padding) row stays finite
    // and cannot spread NaN through the keys and values of later layers.
    const past = b.op('Sub', [total, seq]);
    const keyIndex = b.op('Range', [zero, total, one]);
    const queryIndex = b.op('Unsqueeze', [b.op('Range', [past, total, one]), b.int64Constant([1])]);
    const causal = b.op('LessOrEqual', [keyIndex, queryIndex]);
    const padding = b.op('Unsqueeze', [
      b.op('Cast', [attentionMask], { to: int(DataType.BOOL) }),
      b.int64Constant([1, 2, 3]),
    ]);
    const allowed = b.op('And', [padding, causal]);
    const maskBias = b.op('Where', [allowed, b.floatConstant(0), b.floatConstant(-3.4028234663852886e38)]);

    // Rotary angles [batch, seq, 1, headDim/2] from the position ids, in float32 as transformers computes them.
    const inverseFrequencies = b.floatConstant(Array.from(ropeInverseFrequencies(config)));
    const positions = b.op('Unsqueeze', [
      b.op('Cast', [positionIds], { to: int(DataType.FLOAT) }),
      b.int64Constant([2]),
    ]);
    const angles = b.op('Mul', [positions, inverseFrequencies]);
    const cos = b.op('Unsqueeze', [b.op('Cos', [angles]), b.int64Constant([2])]);
    const sin = b.op('Unsqueeze', [b.op('Sin', [angles]), b.int64Constant([2])]);
    return { batchAndSeq, seq, seq1d, total1d, batch, past, queryShape, kvShape, maskBias, cos, sin, zero, one };
  });

  const rmsNorm = (x: string, weight: string): string =>
    b.scoped('norm', () => {
      // Pow -> ReduceMean -> Add -> Sqrt -> Div -> Mul is the pattern ONNX Runtime fuses into one kernel.
      const meanSquare = b.op('ReduceMean', [b.op('Pow', [x, b.floatConstant(2)])], {
        axes: ints([-1]),
        keepdims: int(1),
      });
      const rms = b.op('Sqrt', [b.op('Add', [meanSquare, b.floatConstant(config.rmsNormEps)])]);
      return b.op('Mul', [b.op('Div', [x, rms]), weight]);
    });

  // Rotate-half rotary embedding on [batch, seq, heads, headDim].
  const rotary = (x: string): string =>
    b.scoped('rotary', () => {
      const [first, second] = b.node('Split', [x], { outputs: 2, attributes: { axis: int(3) } }) as [string, string];
      const rotatedFirst = b.op('Sub', [b.op('Mul', [first, shared.cos]), b.op('Mul', [second, shared.sin])]);
      const rotatedSecond = b.op('Add', [b.op('Mul', [second, shared.cos]), b.op('Mul', [first, shared.sin])]);
      return b.op('Concat', [rotatedFirst, rotatedSecond], { axis: int(3) });
    });

  const embedded = b.scoped('embed', () => {
    const rows = b.op('Gather', [weights.get('model.embed_tokens.weight')!.name!, inputIds], { axis: int(0) });
    return toCompute(b.op('Reshape', [rows, b.int64Constant([-1, hidden])]));
  });

  const hooks: HookTensor[] = [];
  const presents: string[] = [];
  let residual = embedded;
  for (let layer = 0; layer < numLayers; layer++) {
    const p = `model.layers.${layer}`;
    residual = b.scoped(`layers.${layer}`, () => {
      const attentionOut = b.scoped('attn', () => {
        const x = rmsNorm(residual, `${p}.input_layernorm.weight`);
        const xw = toWeight(x);
        const q = toCompute(b.op('Gemm', [xw, `${p}.self_attn.q_proj.weight`], { transB: int(1) }, 'q_proj'));
        const k = toCompute(b.op('Gemm', [xw, `${p}.self_attn.k_proj.weight`], { transB: int(1) }, 'k_proj'));
        const v = toCompute(b.op('Gemm', [xw, `${p}.self_attn.v_proj.weight`], { transB: int(1) }, 'v_proj'));
        const qHeads = rotary(b.op('Reshape', [q, shared.queryShape]));
        const kHeads = rotary(b.op('Reshape', [k, shared.kvShape]));
        const vHeads = b.op('Reshape', [v, shared.kvShape]);
        // [batch, heads, seq, headDim] -> [batch, kvHeads, group, seq, headDim]
        const qGrouped = b.op('Reshape', [
          b.op('Transpose', [qHeads], { perm: ints([0, 2, 1, 3]) }),
          b.int64Constant([0, numKvHeads, group, -1, headDim]),
        ]);
        const kNew = toWeight(b.op('Transpose', [kHeads], { perm: ints([0, 2, 1, 3]) }));
        const vNew = toWeight(b.op('Transpose', [vHeads], { perm: ints([0, 2, 1, 3]) }));
        const kAll = b.opTo(presentKeyName(layer), 'Concat', [pastKeys[layer]!, kNew], { axis: int(2) });
        const vAll = b.opTo(presentValueName(layer), 'Concat', [pastValues[layer]!, vNew], { axis: int(2) });
        presents.push(kAll, vAll);
        const kT = b.op('Unsqueeze', [
          b.op('Transpose', [toCompute(kAll)], { perm: ints([0, 1, 3, 2]) }),
          b.int64Constant([2]),
        ]);
        const vAll5 = b.op('Unsqueeze', [toCompute(vAll), b.int64Constant([2])]);
        const scores = b.op('Mul', [b.op('MatMul', [qGrouped, kT]), b.floatConstant(1 / Math.sqrt(headDim))]);
        const probabilities = b.op('Softmax', [b.op('Add', [scores, shared.maskBias])], { axis: int(-1) });
        const context = b.op('MatMul', [probabilities, vAll5]);
        const merged = b.op('Reshape', [
          b.op('Transpose', [b.op('Reshape', [context, b.int64Constant([0, numHeads, -1, headDim])])], {
            perm: ints([0, 2, 1, 3]),
          }),
          b.int64Constant([-1, numHeads * headDim]),
        ]);
        return linear(merged, `${p}.self_attn.o_proj.weight`, 'o_proj');
      });
      const afterAttention = b.op('Add', [residual, attentionOut], undefined, 'residual_attn');
      const mlpOut = b.scoped('mlp', () => {
        const x = toWeight(rmsNorm(afterAttention, `${p}.post_attention_layernorm.weight`));
        const gate = toCompute(b.op('Gemm', [x, `${p}.mlp.gate_proj.weight`], { transB: int(1) }, 'gate_proj'));
        const up = toCompute(b.op('Gemm', [x, `${p}.mlp.up_proj.weight`], { transB: int(1) }, 'up_proj'));
        const activation = b.opTo(mlpHookTensor(layer), 'Mul', [b.op('Mul', [gate, b.op('Sigmoid', [gate])]), up]);
        hooks.push({
          name: `mlp/${layer}`,
          tensor: activation,
          width: config.intermediateSize,
          elemType: DataType.FLOAT,
        });
        return linear(activation, `${p}.mlp.down_proj.weight`, 'down_proj');
      });
      const out = b.opTo(residHookTensor(layer), 'Add', [afterAttention, mlpOut]);
      hooks.push({ name: `resid/${layer}`, tensor: out, width: hidden, elemType: DataType.FLOAT });
      return out;
    });
  }

  const head = headWeightName(config);
  b.scoped('head', () => {
    const logitsOf = (rows: string): string => {
      const normed = rmsNorm(rows, 'model.norm.weight');
      const raw = b.op('Gemm', [toWeight(normed), head], { transB: int(1) }, 'lm_head');
      return fp16 ? b.op('Cast', [raw], { to: int(DataType.FLOAT) }) : raw;
    };
    const all = logitsOf(residual);
    b.opTo(LOGITS, 'Reshape', [
      all,
      b.op('Concat', [shared.batchAndSeq, b.int64Constant([vocabSize])], { axis: int(0) }),
    ]);

    // Each row's last real position among this call's tokens: the last 1 in attention_mask[:, past:], found as
    // the argmax of mask * (1..seq). Works for right padding (forward passes) and left padding (generation).
    const current = b.op('Slice', [
      attentionMask,
      b.op('Sub', [shared.total1d, shared.seq1d]),
      shared.total1d,
      b.int64Constant([1]),
    ]);
    const weighted = b.op('Mul', [
      current,
      b.op('Range', [shared.one, b.op('Add', [shared.seq, shared.one]), shared.one]),
    ]);
    const lastIndex = b.op('ArgMax', [weighted], { axis: int(1), keepdims: int(0) });
    const rowStart = b.op('Mul', [b.op('Range', [shared.zero, shared.batch, shared.one]), shared.seq]);
    const lastRows = b.op('Gather', [residual, b.op('Add', [rowStart, lastIndex])], { axis: int(0) });
    b.opTo(LAST_LOGITS, 'Identity', [logitsOf(lastRows)]);
  });

  b.output(LOGITS, DataType.FLOAT, ['batch', 'sequence', vocabSize]);
  b.output(LAST_LOGITS, DataType.FLOAT, ['batch', vocabSize]);
  for (let layer = 0; layer < numLayers; layer++) {
    b.output(presentKeyName(layer), weightType, ['batch', numKvHeads, 'total_sequence', headDim]);
    b.output(presentValueName(layer), weightType, ['batch', numKvHeads, 'total_sequence', headDim]);
  }
  return {
    graph: b.graph('llama'),
    hooks,
    inputs: [INPUT_IDS, ATTENTION_MASK, POSITION_IDS, ...pastKeys.flatMap((k, i) => [k, pastValues[i]!])],
    outputs: [LOGITS, LAST_LOGITS, ...presents],
    kvElemType: weightType,
  };
}
