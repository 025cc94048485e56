// Hook variants: copies of the base graph whose outputs are exactly what a forward request asks for — per-token
// hook values, per-sequence extremes, or gated per-token values — with the reductions computed in the graph, so a
// batch moves O(batch x features) off the device. Variants share the base model's weight file (ONNX Runtime
// resolves external data relative to the model file, so they are written into the same folder).
import { createHash } from 'node:crypto';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExpgenError, type GraphFragment } from '@expgen/contract';
import { ExternalDataWriter } from './external-data.js';
import { appendFragment, fragmentDigest, type FragmentTensor } from './fragment-nodes.js';
import { GraphBuilder } from './graph-builder.js';
import { definedNames, pruneToOutputs, removePastInputs } from './graph-edit.js';
import type { HookTensor } from './llama-graph.js';
import { variantFileName } from './model-manifest.js';
import { addGates } from './variant-gates.js';
import { addLastLogits, addSelectedLogits } from './variant-logits.js';
import {
  DataType,
  decodeModel,
  encodeModel,
  externalTensor,
  inlineTensor,
  int,
  ints,
  valueInfo,
  type GraphProto,
  type TensorProto,
} from './onnx-proto.js';
import { trackTemporary, withTemporary } from '@expgen/plugin-kit';

export type HookReduction = 'full' | 'extremes' | 'gated';
export type LogitsRequest = 'none' | 'last' | 'all';

/** What a base graph offers, by value name: the manifest of a built model, or what expose-hooks found in an export. */
export interface BaseGraph {
  /** Folder holding the model and its external data. */
  readonly folder: string;
  /** Model file name inside `folder`. */
  readonly modelFile: string;
  readonly hookPoints: readonly HookTensor[];
  readonly inputIds: string;
  readonly attentionMask: string;
  /** Logits at every position [batch, seq, vocab]. */
  readonly logits: string;
  /** Logits at each row's last real position [batch, vocab], when the graph computes them (else a variant adds it). */
  readonly lastLogits?: string;
  /** ONNX element type of the logits; anything but float32 is cast. */
  readonly logitsElemType: number;
  readonly pastInputs: readonly string[];
  readonly presentOutputs: readonly string[];
  /**
   * Whether each KV-cache input only feeds a `Concat(past, new)`, so passes without a cache can drop the inputs.
   * Otherwise (fused attention ops read the cache) such passes feed empty caches.
   */
  readonly pastRemovable: boolean;
}

export interface VariantHook {
  readonly hook: string;
  readonly reduce: HookReduction;
  readonly fragment?: GraphFragment;
  /** For `gated`: the extremes are gated too (HookRequest.extremeThresholds), with dense rows on request. */
  readonly gateExtremes?: boolean;
}

/** The shape of a request: everything that changes the graph, nothing that changes only the values fed. */
export interface VariantSpec {
  readonly hooks: readonly VariantHook[];
  readonly logits: LogitsRequest;
  /**
   * Keep the KV-cache inputs and `present` outputs (generation); `read`: the inputs only, for a pass that reads a
   * cached prefix and returns nothing else of the cache; false: passes start from an empty cache.
   */
  readonly kvCache: boolean | 'read';
  /**
   * Vocabulary ids the logits output keeps, in this order (ForwardRequest.logitIds): the gather runs in the graph,
   * so only [batch, (seq,) ids] leaves it. Absent: the whole vocabulary.
   */
  readonly logitIds?: readonly number[];
}

/** Value names of one hook's results in a variant. */
export interface VariantHookIO {
  readonly hook: string;
  /** Features per token (the fragment's output width when there is one). */
  readonly width: number;
  readonly full?: string;
  /** float32 [batch, width] dense extremes (outputs of `extremes`, and of `gated` unless the extremes are gated). */
  readonly max?: string;
  readonly min?: string;
  /** int32 [pairs, 2]: (feature, row) of each gated pair, feature-major. */
  readonly gatedIndex?: string;
  /** float32 [pairs, seq]. */
  readonly gatedValues?: string;
  /** float32 [pairs]: each gated pair's per-sequence max and min. */
  readonly gatedMax?: string;
  readonly gatedMin?: string;
  /** float32 [width] threshold inputs of `gated`. */
  readonly top?: string;
  readonly bottom?: string;
  /** With gated extremes: float32 [width] threshold inputs, and the int64 [rows] input of the dense rows. */
  readonly extremesTop?: string;
  readonly extremesBottom?: string;
  readonly denseRows?: string;
  /** With gated extremes: int32 [n] feature * batch + row (ascending) and float32 [n] of the maxima (minima) that passed. */
  readonly maximaIndex?: string;
  readonly maximaValues?: string;
  readonly minimaIndex?: string;
  readonly minimaValues?: string;
  /** With gated extremes: float32 [dense rows, width]. */
  readonly denseMax?: string;
  readonly denseMin?: string;
}

export interface HookVariant {
  readonly key: string;
  readonly path: string;
  readonly hooks: readonly VariantHookIO[];
  /**
   * int64 [batch] input, present when any hook reduces: per row, the first position that counts in extremes and
   * gating (ForwardRequest.countFrom). An input rather than a constant, so rows with different fixed prefixes share
   * one batch and one variant.
   */
  readonly countFrom?: string;
  readonly logits?: string;
  readonly presentOutputs: readonly string[];
  /** KV-cache inputs this variant still declares although it starts from an empty cache: feed them 0 positions. */
  readonly emptyPastInputs: readonly string[];
}

/** Fragment constants above this size go to a data file beside the variant: a protobuf must stay under 2 GB. */
const INLINE_LIMIT_BYTES = 1024 * 1024;

/** sha256 of the base graph file: variants are keyed on it, so a rebuilt base never reuses a stale variant. */
export async function baseGraphDigest(base: BaseGraph): Promise<string> {
  return createHash('sha256')
    .update(await readFile(join(base.folder, base.modelFile)))
    .digest('hex');
}

/**
 * Changes when the graph built for the same spec changes, so variant files written by an older plugin are never
 * reused. 2: the first counted position is the `expgen.count_from` input, not a constant per hook. 3: gated pairs
 * are int32 (feature, row), feature-major, with their extremes; gates pass NaN; extremes can be gated.
 */
const VARIANT_LAYOUT = 3;

export function variantKey(baseDigest: string, spec: VariantSpec): string {
  const shape = {
    layout: VARIANT_LAYOUT,
    base: baseDigest,
    logits: spec.logits,
    kvCache: spec.kvCache,
    hooks: spec.hooks.map((h) => ({
      hook: h.hook,
      reduce: h.reduce,
      fragment: h.fragment ? fragmentDigest(h.fragment) : null,
      ...(h.reduce === 'gated' && h.gateExtremes ? { gateExtremes: true } : {}),
    })),
    // Only when present, so the keys (and files) of variants without a selection stay what they were.
    ...(spec.logitIds !== undefined && spec.logits !== 'none' ? { logitIds: [...spec.logitIds] } : {}),
  };
  return createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 20);
}

/** Output and input names of a variant, derived from the spec alone so a variant on disk needs no inspection. */
function variantIO(base: BaseGraph, spec: VariantSpec, key: string): HookVariant {
  const hooks = spec.hooks.map((request, i): VariantHookIO => {
    const point = hookPoint(base, request.hook);
    const width = request.fragment ? request.fragment.outputWidth : point.width;
    const p = `hooks.${i}`;
    if (request.reduce === 'full') return { hook: request.hook, width, full: `${p}.full` };
    const extremes = { hook: request.hook, width, max: `${p}.max`, min: `${p}.min` };
    if (request.reduce === 'extremes') return extremes;
    const gated = {
      hook: request.hook,
      width,
      gatedIndex: `${p}.gated_index`,
      gatedValues: `${p}.gated_values`,
      gatedMax: `${p}.gated_max`,
      gatedMin: `${p}.gated_min`,
      top: `${p}.top`,
      bottom: `${p}.bottom`,
    };
    if (!request.gateExtremes) return { ...extremes, ...gated };
    return {
      ...gated,
      extremesTop: `${p}.extremes_top`,
      extremesBottom: `${p}.extremes_bottom`,
      denseRows: `${p}.dense_rows`,
      maximaIndex: `${p}.maxima_index`,
      maximaValues: `${p}.maxima_values`,
      minimaIndex: `${p}.minima_index`,
      minimaValues: `${p}.minima_values`,
      denseMax: `${p}.dense_max`,
      denseMin: `${p}.dense_min`,
    };
  });
  const cast = base.logitsElemType !== DataType.FLOAT;
  const selected = spec.logitIds !== undefined;
  const logits =
    spec.logits === 'all'
      ? selected
        ? 'expgen.logits_selected'
        : cast
          ? 'expgen.logits'
          : base.logits
      : spec.logits === 'last'
        ? selected
          ? 'expgen.last_logits_selected'
          : base.lastLogits && !cast
            ? base.lastLogits
            : 'expgen.last_logits'
        : undefined;
  return {
    key,
    path: join(base.folder, variantFileName(key)),
    hooks,
    ...(spec.hooks.some((h) => h.reduce !== 'full') ? { countFrom: 'expgen.count_from' } : {}),
    logits,
    presentOutputs: spec.kvCache === true ? base.presentOutputs : [],
    emptyPastInputs: spec.kvCache || base.pastRemovable ? [] : base.pastInputs,
  };
}

function hookPoint(base: BaseGraph, name: string): HookTensor {
  const point = base.hookPoints.find((p) => p.name === name);
  if (!point) {
    const names = base.hookPoints.map((p) => p.name);
    const sample = names.length > 6 ? `${names.slice(0, 6).join(', ')}, ...` : names.join(', ');
    throw new ExpgenError(
      `hook point "${name}" does not exist in ${join(base.folder, base.modelFile)}; it has ${sample}`,
    );
  }
  return point;
}

/** Checks a spec against the base graph before anything is built, naming the hook and fragment at fault. */
export function checkVariantSpec(base: BaseGraph, spec: VariantSpec): void {
  if (spec.kvCache && spec.hooks.length > 0)
    throw new Error('hook reductions are not supported on passes that read a KV cache');
  if (spec.logitIds !== undefined) {
    if (spec.logits === 'none')
      throw new ExpgenError('logitIds selects among returned logits; ask for logits "last" or "all" with it');
    if (spec.logitIds.length === 0)
      throw new ExpgenError(
        'logitIds is empty; give at least one vocabulary id, or leave it out for the whole vocabulary',
      );
    for (const id of spec.logitIds) {
      if (!Number.isSafeInteger(id) || id < 0)
        throw new ExpgenError(`logitIds holds ${id}; vocabulary ids are non-negative integers`);
    }
  }
  spec.hooks.forEach((request) => {
    const point = hookPoint(base, request.hook);
    if (request.fragment && request.fragment.inputWidth !== point.width) {
      throw new ExpgenError(
        `graph fragment "${request.fragment.name}" reads ${request.fragment.inputWidth} values per token but hook "${request.hook}" has ${point.width}; pair the fragment with a hook of its width`,
      );
    }
  });
}

/**
 * Returns the variant for `spec`, building `model.variant-<key>.onnx` beside the base model unless it is already
 * there. Concurrent builders write the same bytes and rename into place, so a reader never sees a partial file.
 */
export async function ensureHookVariant(base: BaseGraph, baseDigest: string, spec: VariantSpec): Promise<HookVariant> {
  checkVariantSpec(base, spec);
  const key = variantKey(baseDigest, spec);
  const variant = variantIO(base, spec, key);
  if ((await stat(variant.path).catch(() => null)) !== null) return variant;

  const model = decodeModel(await readFile(join(base.folder, base.modelFile)));
  const graph = model.graph!;
  const fragmentTensors = addHookOutputs(graph, base, spec, variant);
  const dataFile = `${variantFileName(key)}.data`;
  const large = fragmentTensors.filter((t) => t.data.byteLength > INLINE_LIMIT_BYTES);
  const placed = new Map<string, TensorProto>();
  if (large.length > 0) {
    const temporary = `${dataFile}.tmp-${process.pid}`;
    // An interrupt removes it (a failure too: abort() does; removing what is gone is harmless).
    const forget = trackTemporary(join(base.folder, temporary));
    const writer = await ExternalDataWriter.create(base.folder, temporary);
    try {
      for (const tensor of large) {
        const offset = await writer.begin(tensor.data.byteLength);
        await writer.write(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
        placed.set(
          tensor.name,
          externalTensor(tensor.name, tensor.dataType, tensor.dims, dataFile, offset, tensor.data.byteLength),
        );
      }
      await writer.close();
    } catch (error) {
      await writer.abort();
      throw error;
    }
    await rename(join(base.folder, temporary), join(base.folder, dataFile));
    forget();
  }
  for (const tensor of fragmentTensors) {
    graph.initializer!.push(
      placed.get(tensor.name) ?? inlineTensor(tensor.name, tensor.dataType, tensor.dims, tensor.data),
    );
  }

  if (!spec.kvCache && base.pastRemovable) removePastInputs(graph, new Set(base.pastInputs));
  pruneToOutputs(graph);
  const temporary = `${variant.path}.tmp-${process.pid}`;
  try {
    await withTemporary(temporary, async () => {
      await writeFile(temporary, encodeModel(model));
      await rename(temporary, variant.path);
    });
  } catch (error) {
    throw new ExpgenError(
      `cannot write ${variant.path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): graph variants are saved beside the model, so ${base.folder} must be writable`,
      { cause: error },
    );
  }
  return variant;
}

/** Adds the reduction nodes and sets the graph outputs to exactly what `variant` names. */
function addHookOutputs(graph: GraphProto, base: BaseGraph, spec: VariantSpec, variant: HookVariant): FragmentTensor[] {
  const b = new GraphBuilder('expgen/', definedNames(graph));
  const outputs = [];
  const fragmentTensors: FragmentTensor[] = [];
  if (variant.logits) {
    if (variant.logits === 'expgen.logits') b.opTo(variant.logits, 'Cast', [base.logits], { to: int(DataType.FLOAT) });
    if (variant.logits === 'expgen.last_logits') addLastLogits(b, base, variant.logits);
    if (variant.logits === 'expgen.logits_selected' || variant.logits === 'expgen.last_logits_selected')
      addSelectedLogits(graph, b, base, spec, variant.logits);
    outputs.push(valueInfo(variant.logits, DataType.FLOAT, null));
  }
  for (const present of variant.presentOutputs) {
    const declared = (graph.output ?? []).find((o) => o.name === present);
    outputs.push(declared ?? valueInfo(present, DataType.FLOAT, null));
  }

  const shared = b.scoped('hooks', () => {
    // [batch, seq, -1]: hook values arrive as [batch*seq, width] or [batch, seq, width].
    const perToken = b.op('Concat', [b.op('Shape', [base.inputIds]), b.int64Constant([-1])], { axis: int(0) });
    const seqLength = b.op('Squeeze', [
      b.op('Shape', [base.inputIds], { start: int(1), end: int(2) }),
      b.int64Constant([0]),
    ]);
    const positions = b.op('Range', [b.int64Constant(0), seqLength, b.int64Constant(1)]);
    // Forward passes start from an empty cache, so attention_mask is [batch, seq] and marks the real tokens.
    const real = b.op('Cast', [base.attentionMask], { to: int(DataType.BOOL) });
    return { perToken, positions, real, seqLength };
  });
  // [batch, seq, 1]: the positions that count in extremes and gating, real and at or past their row's count_from
  // (positions[None, :] >= count_from[:, None]). One mask for every reducing hook, built only when one reduces so
  // that variants without reductions declare no count_from input.
  const valid = variant.countFrom
    ? b.scoped('hooks/valid', () => {
        const countFrom = b.input(variant.countFrom!, DataType.INT64, ['batch']);
        const counted = b.op('GreaterOrEqual', [
          b.op('Unsqueeze', [shared.positions, b.int64Constant([0])]),
          b.op('Unsqueeze', [countFrom, b.int64Constant([1])]),
        ]);
        return b.op('Unsqueeze', [b.op('And', [shared.real, counted]), b.int64Constant([2])]);
      })
    : null;

  spec.hooks.forEach((request, i) => {
    const io = variant.hooks[i]!;
    const point = hookPoint(base, request.hook);
    b.scoped(`hooks/${i}`, () => {
      let values =
        point.elemType === DataType.FLOAT ? point.tensor : b.op('Cast', [point.tensor], { to: int(DataType.FLOAT) });
      if (request.fragment) {
        const rows = b.op('Reshape', [values, b.int64Constant([-1, point.width])]);
        const appended = appendFragment(b, request.fragment, rows, `hooks.${i}.${request.fragment.name}/`);
        fragmentTensors.push(...appended.tensors);
        values = appended.output;
      }
      const tokens = b.op('Reshape', [values, shared.perToken]);
      if (io.full) {
        b.opTo(io.full, 'Identity', [tokens]);
        outputs.push(valueInfo(io.full, DataType.FLOAT, ['batch', 'sequence', io.width]));
        return;
      }
      if (valid === null) throw new Error(`hook "${request.hook}" reduces but the variant has no count_from input`);
      const reduce = (op: string, fill: number, output?: string) => {
        const masked = b.op('Where', [valid, tokens, b.floatConstant(fill)]);
        const attributes = { axes: ints([1]), keepdims: int(0) };
        return output ? b.opTo(output, op, [masked], attributes) : b.op(op, [masked], attributes);
      };
      const max = reduce('ReduceMax', -Infinity, io.max);
      const min = reduce('ReduceMin', Infinity, io.min);
      if (io.max && io.min)
        outputs.push(
          valueInfo(max, DataType.FLOAT, ['batch', io.width]),
          valueInfo(min, DataType.FLOAT, ['batch', io.width]),
        );
      if (!io.gatedIndex) return;
      outputs.push(...addGates(b, io, tokens, max, min, shared.seqLength));
    });
  });

  graph.node = [...(graph.node ?? []), ...b.nodes];
  graph.initializer = [...(graph.initializer ?? []), ...b.initializers];
  graph.input = [...(graph.input ?? []), ...b.inputs];
  graph.output = outputs;
  return fragmentTensors;
}
