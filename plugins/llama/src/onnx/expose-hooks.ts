// Hook points in ONNX exports users already have (onnxruntime-genai's model builder, Hugging Face optimum), found
// by editing the graph only: the ModelProto is decoded without its external weight data, which is never read.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import { checkExternalData } from './external-data.js';
import { GraphBuilder } from './graph-builder.js';
import { definedNames } from './graph-edit.js';
import type { HookTensor } from './llama-graph.js';
import {
  attributeInt,
  DataType,
  decodeModel,
  encodeModel,
  int,
  tensorDims,
  valueInfo,
  valueInfoElemType,
  type GraphProto,
  type ModelProto,
  type NodeProto,
} from './onnx-proto.js';
import { withTemporary } from '@expgen/plugin-kit';

/** What an export offers, found from its graph alone. */
export interface ExportAnalysis {
  readonly folder: string;
  readonly modelFile: string;
  /** Per layer: `mlp/<L>` (down_proj input) and `resid/<L>` (residual stream after the layer). Element type 0 = unknown. */
  readonly hookPoints: readonly HookTensor[];
  readonly layers: number;
  readonly inputIds: string;
  readonly attentionMask: string | null;
  readonly positionIds: string | null;
  readonly logits: string;
  readonly kvPairs: readonly { readonly past: string; readonly present: string }[];
  /** Element type and declared dims of the first KV-cache input (heads and head size when fixed). */
  readonly kv: { readonly elemType: number; readonly dims: readonly (number | string)[] } | null;
  /** Whether every KV-cache input feeds only `Concat(past, new)` nodes, so cache-free passes can drop it. */
  readonly pastRemovable: boolean;
  /** Element type of the `logits` output (0 when undeclared). */
  readonly logitsElemType: number;
  /** Whether weights are 4-bit (MatMulNBits). */
  readonly quantized: boolean;
  /** Nodes whose outputs had to be named to expose a hook (a final SkipLayerNorm that drops its sum output). */
  readonly addedOutputs: readonly { readonly node: string; readonly index: number; readonly name: string }[];
}

const DOWN_PROJ_NODE = /^\/model\/layers\.(\d+)\/mlp\/down_proj\/[A-Za-z0-9_]+$/;
const DOWN_PROJ_WEIGHT = /^model\.layers\.(\d+)\.mlp\.down_proj\.(weight|qweight|weight_q|scales)$/;
const LINEAR_OPS = new Set(['MatMul', 'Gemm', 'MatMulNBits', 'MatMulInteger', 'QLinearMatMul', 'FusedMatMul']);
/** Ops a weight passes through between its initializer and the matmul that reads it. */
const WEIGHT_PATH_OPS = new Set(['Transpose', 'Cast', 'DequantizeLinear', 'Identity', 'Reshape']);
const PASS_THROUGH_OPS = new Set(['Cast', 'Identity']);
const SKIP_NORMS = new Set(['SkipSimplifiedLayerNormalization', 'SkipLayerNormalization']);

/**
 * Decodes `modelPath` (graph only), checks its external data references, and finds every layer's hook values.
 * Errors name the file, the layer and the node, and say what was expected.
 */
export async function analyzeExport(modelPath: string): Promise<{ model: ModelProto; analysis: ExportAnalysis }> {
  const folder = dirname(modelPath);
  const modelFile = basename(modelPath);
  let bytes: Buffer;
  try {
    bytes = await readFile(modelPath);
  } catch {
    throw new ExpgenError(`${modelPath} cannot be read; point to an ONNX model file (or a folder holding model.onnx)`);
  }
  let model: ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (error) {
    throw new ExpgenError(`${modelPath} is not an ONNX model (${(error as Error).message}); re-export it`);
  }
  const graph = model.graph;
  if (!graph?.node?.length) throw new ExpgenError(`${modelPath} holds no graph; re-export it`);
  await checkExternalData(graph, folder, modelPath);

  const index = indexGraph(graph);
  const downProj = findDownProjections(graph, index, modelPath);
  if (downProj.size === 0) {
    throw new ExpgenError(
      `${modelPath}: found no down_proj matmul (neither a node named /model/layers.<L>/mlp/down_proj/... nor one reading model.layers.<L>.mlp.down_proj.weight); is this a Llama export from onnxruntime-genai or optimum?`,
    );
  }
  const layers = Math.max(...downProj.keys()) + 1;
  const hookPoints: HookTensor[] = [];
  const addedOutputs: { node: string; index: number; name: string }[] = [];
  for (let layer = 0; layer < layers; layer++) {
    const node = downProj.get(layer);
    if (!node)
      throw new ExpgenError(
        `${modelPath}: layer ${layer} has no down_proj matmul while layer ${layers - 1} has one; the export is incomplete`,
      );
    const activation = activationInput(node, index);
    const width = downProjInputWidth(node, index);
    hookPoints.push({
      name: `mlp/${layer}`,
      tensor: activation,
      width: width ?? 0,
      elemType: index.elemTypes.get(activation) ?? 0,
    });
    const residual = residualAfter(node, index, layer, modelPath, addedOutputs);
    hookPoints.push({
      name: `resid/${layer}`,
      tensor: residual,
      width: downProjOutputWidth(node, index) ?? 0,
      elemType: index.elemTypes.get(residual) ?? 0,
    });
  }

  const inputs = (graph.input ?? []).map((i) => i.name!);
  const outputs = (graph.output ?? []).map((o) => o.name!);
  const inputIds = inputs.find((name) => name === 'input_ids');
  if (!inputIds)
    throw new ExpgenError(
      `${modelPath}: graph input "input_ids" is missing (inputs: ${inputs.join(', ')}); expgen runs exports that take token ids`,
    );
  const logits = outputs.find((name) => name === 'logits');
  if (!logits)
    throw new ExpgenError(
      `${modelPath}: graph output "logits" is missing (outputs: ${outputs.join(', ')}); export the model with its language-model head`,
    );
  const kvPairs: { past: string; present: string }[] = [];
  for (const past of inputs) {
    const match = /^past_key_values\.(\d+)\.(key|value)$/.exec(past);
    if (!match) continue;
    const present = `present.${match[1]}.${match[2]}`;
    if (!outputs.includes(present))
      throw new ExpgenError(
        `${modelPath}: input "${past}" has no matching output "${present}"; the KV cache of this export is not laid out as optimum or onnxruntime-genai write it`,
      );
    kvPairs.push({ past, present });
  }
  const firstPast = kvPairs.length > 0 ? graph.input!.find((i) => i.name === kvPairs[0]!.past)! : null;
  const kv = firstPast
    ? {
        elemType: valueInfoElemType(firstPast) ?? DataType.FLOAT,
        dims: (firstPast.type?.tensorType?.shape?.dim ?? []).map((d) =>
          d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0
            ? Number(d.dimValue)
            : (d.dimParam ?? '?'),
        ),
      }
    : null;
  return {
    model,
    analysis: {
      folder,
      modelFile,
      hookPoints,
      layers,
      inputIds,
      attentionMask: inputs.includes('attention_mask') ? 'attention_mask' : null,
      positionIds: inputs.includes('position_ids') ? 'position_ids' : null,
      logits,
      kvPairs,
      kv,
      pastRemovable: kvPairs.every(({ past }) =>
        (index.consumers.get(past) ?? []).every(
          (node) => node.opType === 'Concat' && node.input?.length === 2 && node.input[0] === past,
        ),
      ),
      logitsElemType: valueInfoElemType(graph.output!.find((o) => o.name === logits)!) ?? 0,
      quantized: graph.node.some((node) => node.opType === 'MatMulNBits'),
      addedOutputs,
    },
  };
}

export interface ExposedHooks {
  /** The edited model, written beside the original so relative external-data paths still resolve. */
  readonly path: string;
  /** Graph output holding each hook's values as float32 [batch, seq, width] (or [batch*seq, width]). */
  readonly hooks: readonly {
    readonly name: string;
    readonly output: string;
    readonly tensor: string;
    readonly width: number;
  }[];
}

/**
 * Writes a copy of an export whose graph also outputs every hook point (cast to float32), for tools that run the
 * graph directly. The weights stay where they are: only the graph is rewritten.
 */
export async function exposeHooks(modelPath: string, options: { outFile?: string } = {}): Promise<ExposedHooks> {
  const { model, analysis } = await analyzeExport(modelPath);
  const graph = model.graph!;
  const b = new GraphBuilder('expgen/', definedNames(graph));
  const hooks = analysis.hookPoints.map((point) => {
    const output = `expgen.hook.${point.name.replace('/', '.')}`;
    b.opTo(output, 'Cast', [point.tensor], { to: int(DataType.FLOAT) });
    return { name: point.name, output, tensor: point.tensor, width: point.width };
  });
  graph.node = [...graph.node!, ...b.nodes];
  graph.output = [...(graph.output ?? []), ...hooks.map((h) => valueInfo(h.output, DataType.FLOAT, null))];
  const outFile = options.outFile ?? `${basename(modelPath).replace(/\.onnx$/, '')}.expgen-hooks.onnx`;
  if (basename(outFile) !== outFile)
    throw new ExpgenError(
      `exposeHooks: outFile "${outFile}" must be a file name: the copy has to sit beside ${modelPath} for its weights to resolve`,
    );
  const path = join(analysis.folder, outFile);
  const temporary = `${path}.tmp-${process.pid}`;
  await withTemporary(temporary, async () => {
    await writeFile(temporary, encodeModel(model));
    await rename(temporary, path);
  });
  return { path, hooks };
}

interface GraphIndex {
  readonly producer: Map<string, NodeProto>;
  readonly consumers: Map<string, NodeProto[]>;
  readonly initializers: Map<string, number[]>;
  readonly elemTypes: Map<string, number>;
}

function indexGraph(graph: GraphProto): GraphIndex {
  const producer = new Map<string, NodeProto>();
  const consumers = new Map<string, NodeProto[]>();
  for (const node of graph.node ?? []) {
    for (const output of node.output ?? []) if (output) producer.set(output, node);
    for (const input of node.input ?? []) {
      if (!input) continue;
      const list = consumers.get(input) ?? [];
      list.push(node);
      consumers.set(input, list);
    }
  }
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name!, tensorDims(t)]));
  const elemTypes = new Map<string, number>();
  for (const info of [...(graph.valueInfo ?? []), ...(graph.input ?? []), ...(graph.output ?? [])]) {
    const type = valueInfoElemType(info);
    if (type) elemTypes.set(info.name!, type);
  }
  return { producer, consumers, initializers, elemTypes };
}

/** The initializer a matmul input is computed from through weight-only ops (transpose, dequantize, cast), if any. */
function weightSource(value: string, index: GraphIndex, depth = 0): string | null {
  if (index.initializers.has(value)) return value;
  const node = index.producer.get(value);
  if (!node || depth > 4) return null;
  if (node.opType === 'Constant') return node.name ?? value;
  if (!WEIGHT_PATH_OPS.has(node.opType!)) return null;
  return weightSource(node.input![0]!, index, depth + 1);
}

function findDownProjections(graph: GraphProto, index: GraphIndex, modelPath: string): Map<number, NodeProto> {
  const found = new Map<number, NodeProto>();
  const claim = (layer: number, node: NodeProto) => {
    const previous = found.get(layer);
    if (previous && previous !== node) {
      throw new ExpgenError(
        `${modelPath}: layer ${layer} has two down_proj candidates (${previous.name} and ${node.name}); expose the hooks by hand`,
      );
    }
    found.set(layer, node);
  };
  for (const node of graph.node ?? []) {
    if (!LINEAR_OPS.has(node.opType!)) continue;
    const byName = DOWN_PROJ_NODE.exec(node.name ?? '');
    if (byName) {
      claim(Number(byName[1]), node);
      continue;
    }
    for (const input of node.input ?? []) {
      const source = input ? weightSource(input, index) : null;
      const byWeight = source ? DOWN_PROJ_WEIGHT.exec(source) : null;
      if (byWeight) {
        claim(Number(byWeight[1]), node);
        break;
      }
    }
  }
  return found;
}

/** The matmul's activation operand: the input that is not computed from a weight. */
function activationInput(node: NodeProto, index: GraphIndex): string {
  const inputs = node.input ?? [];
  if (node.opType === 'MatMulNBits' || node.opType === 'Gemm') return inputs[0]!;
  const activation = inputs.slice(0, 2).find((input) => weightSource(input, index) === null);
  return activation ?? inputs[0]!;
}

function downProjInputWidth(node: NodeProto, index: GraphIndex): number | null {
  if (node.opType === 'MatMulNBits') return attributeInt(node, 'K') ?? null;
  const weight = (node.input ?? []).find((input) => weightSource(input, index) !== null);
  const dims = weight ? shapeThroughTransposes(weight, index) : null;
  if (dims?.length !== 2) return null;
  if (node.opType === 'Gemm') return attributeInt(node, 'transB') === 1 ? dims[1]! : dims[0]!;
  return dims[0]!;
}

function downProjOutputWidth(node: NodeProto, index: GraphIndex): number | null {
  if (node.opType === 'MatMulNBits') return attributeInt(node, 'N') ?? null;
  const weight = (node.input ?? []).find((input) => weightSource(input, index) !== null);
  const dims = weight ? shapeThroughTransposes(weight, index) : null;
  if (dims?.length !== 2) return null;
  if (node.opType === 'Gemm') return attributeInt(node, 'transB') === 1 ? dims[0]! : dims[1]!;
  return dims[1]!;
}

/** Dims of a weight as the matmul sees it: the initializer's dims, permuted by any Transpose on the way. */
function shapeThroughTransposes(value: string, index: GraphIndex): number[] | null {
  const dims = index.initializers.get(value);
  if (dims) return dims;
  const node = index.producer.get(value);
  if (!node) return null;
  const inner = shapeThroughTransposes(node.input![0]!, index);
  if (!inner) return null;
  if (node.opType === 'Transpose') {
    const perm =
      node.attribute?.find((a) => a.name === 'perm')?.ints?.map((p) => Number(p)) ??
      inner.map((_, i) => inner.length - 1 - i);
    return perm.map((p) => inner[p]!);
  }
  return node.opType === 'Reshape' ? null : inner;
}

/**
 * The residual stream after layer `layer`: where the down_proj result is added back. A plain graph adds it with
 * an Add; onnxruntime-genai fuses the add into the next SkipSimplifiedLayerNormalization, whose 4th output is the
 * sum (named here when the export dropped it, as genai does for the final norm).
 */
function residualAfter(
  downProj: NodeProto,
  index: GraphIndex,
  layer: number,
  modelPath: string,
  added: { node: string; index: number; name: string }[],
): string {
  let value = downProj.output![0]!;
  for (let hop = 0; hop < 3; hop++) {
    const consumers = index.consumers.get(value) ?? [];
    const residual = consumers.find((node) => node.opType === 'Add' || SKIP_NORMS.has(node.opType!));
    if (residual?.opType === 'Add') return residual.output![0]!;
    if (residual) {
      const outputs = residual.output!;
      if (outputs[3]) return outputs[3];
      while (outputs.length < 3) outputs.push('');
      const name = `${residual.name || `layer${layer}_skip_norm`}/expgen_residual_sum`;
      outputs[3] = name;
      index.producer.set(name, residual);
      added.push({ node: residual.name ?? '', index: 3, name });
      return name;
    }
    const passThrough = consumers.find((node) => PASS_THROUGH_OPS.has(node.opType!));
    if (!passThrough) break;
    value = passThrough.output![0]!;
  }
  throw new ExpgenError(
    `${modelPath}: layer ${layer}: the output of ${downProj.name || 'down_proj'} is not added to the residual stream by an Add or SkipSimplifiedLayerNormalization node; expose the hooks by hand`,
  );
}
