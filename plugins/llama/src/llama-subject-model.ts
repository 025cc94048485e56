import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import {
  ExpgenError,
  type ForwardRequest,
  type ForwardResult,
  type HookPoint,
  type Logger,
  type Provenance,
  type SubjectModel,
  type SubjectModelInfo,
  type Tokenizer,
} from '@expgen/contract';
import type { VariantSpec } from './onnx/hook-variants.js';
import { PLANTED_TRUTH_FILE } from './hf/tiny-model.js';
import { unpackHook } from './forward-outputs.js';
import { openRunnableModel, type RunnableModel } from './onnx/runnable-model.js';
export type { RunnableModel } from './onnx/runnable-model.js';
import { generateWithCache, type LlamaGenerationRequest, type LlamaGenerationResult } from './runtime/generate.js';
import { float32Tensor, int64Tensor, type Feed, type HostTensor } from './runtime/host-tensor.js';
import { InferenceClient } from './runtime/inference-client.js';
import type { OpenSession } from './runtime/model-sessions.js';
import { forwardWithPrefixes, type PrefixForwardRequest, type PrefixForwardResult } from './runtime/prefix-forward.js';
import type { ExecutionProviderName, SessionSettings } from './runtime/onnx-session.js';
import { SessionPool } from './runtime/session-pool.js';
import { checkVocabularyMatches, LlamaTokenizer } from './tokenizer/llama-tokenizer.js';

export interface LlamaSubjectModelOptions {
  readonly provider: ExecutionProviderName;
  /** GPU index for `cuda`. */
  readonly deviceId?: number;
  /** Stamped (with the provider, dtype and hashes added to its settings) on everything the model returns. */
  readonly provenance: Provenance;
  /** Default: the tokenizer files in the model folder. Its vocabulary size must equal the model's. */
  readonly tokenizer?: Tokenizer;
  /**
   * Accept a model whose vocabulary extends the tokenizer's (model vocab >= tokenizer vocab): a fine-tuned model
   * that added ids after the base vocabulary, such as the released simulator (PAD and remapped control tokens).
   * Such a model is an engine for a component that feeds those ids itself, not a subject.
   */
  readonly allowExtendedVocabulary?: boolean;
  readonly logger?: Logger;
  /** CPU threads per operator (default: ONNX Runtime's choice). */
  readonly intraOpThreads?: number;
  /**
   * Sessions kept open at once. Each session holds its own copy of the weights, so the default (2: one forward
   * variant and the generation graph) keeps an 8B model within one GPU.
   */
  readonly maxOpenSessions?: number;
}

/**
 * Opens a model as the subject: a folder built by `buildOnnxModel`, or an existing Llama ONNX export
 * (onnxruntime-genai or optimum; a folder holding model.onnx and config.json, or the .onnx file itself) whose
 * hook points are found in its graph. Inference runs in a worker thread that owns the ONNX Runtime sessions; each
 * distinct request shape gets its own graph variant, built once and cached beside the model.
 */
export async function openLlamaSubjectModel(
  modelDir: string,
  options: LlamaSubjectModelOptions,
): Promise<LlamaSubjectModel> {
  const model = await openRunnableModel(resolve(modelDir));
  return LlamaSubjectModel.open(model.base.folder, model, options);
}

export type {
  GenerationUsage,
  LlamaGenerationRequest,
  LlamaGenerationResult,
} from './runtime/generate.js';
export type { PrefixForwardRequest, PrefixForwardResult, PrefixForwardUsage } from './runtime/prefix-forward.js';

export class LlamaSubjectModel implements SubjectModel {
  readonly provenance: Provenance;
  readonly info: SubjectModelInfo;
  readonly runsGraphFragments = true;
  /** Sessions by request shape, shared by forward passes and the KV-cache passes (generation). */
  private readonly pool: SessionPool;
  private disposed = false;

  private constructor(
    readonly modelDir: string,
    private readonly model: RunnableModel,
    readonly tokenizer: Tokenizer,
    private readonly client: InferenceClient,
    settings: SessionSettings,
    maxOpenSessions: number,
    provenance: Provenance,
  ) {
    this.pool = new SessionPool(model, client, settings, maxOpenSessions);
    this.info = {
      architecture: model.config.architecture,
      layers: model.config.numLayers,
      hiddenSize: model.config.hiddenSize,
      intermediateSize: model.config.intermediateSize,
      vocabSize: model.config.vocabSize,
      executionProvider: settings.provider,
      dtype: model.dtype,
      hashes: model.hashes,
      ...(existsSync(join(modelDir, PLANTED_TRUTH_FILE)) ? { plantedTruth: join(modelDir, PLANTED_TRUTH_FILE) } : {}),
    };
    this.provenance = {
      ...provenance,
      settings: {
        ...provenance.settings,
        model: basename(modelDir),
        executionProvider: settings.provider,
        dtype: model.dtype,
        hashes: model.hashes,
      },
    };
  }

  static async open(
    modelDir: string,
    model: RunnableModel,
    options: LlamaSubjectModelOptions,
  ): Promise<LlamaSubjectModel> {
    const provider = options.provider ?? 'cpu';
    if (provider !== 'cpu' && provider !== 'webgpu' && provider !== 'cuda') {
      throw new ExpgenError(`execution provider "${String(provider)}" is not supported; use "cpu", "webgpu" or "cuda"`);
    }
    const maxOpenSessions = options.maxOpenSessions ?? 2;
    if (!Number.isSafeInteger(maxOpenSessions) || maxOpenSessions < 1)
      throw new ExpgenError(`option "maxOpenSessions" must be a positive integer (found ${maxOpenSessions})`);
    const tokenizer = options.tokenizer ?? (await loadTokenizer(modelDir));
    if (options.allowExtendedVocabulary !== true) checkVocabularyMatches(tokenizer, model.config.vocabSize, modelDir);
    else if (tokenizer.vocabSize > model.config.vocabSize) {
      throw new ExpgenError(
        `${modelDir}: the model's vocab_size is ${model.config.vocabSize}, fewer than the tokenizer's ${tokenizer.vocabSize} ids; an extended vocabulary holds the whole base vocabulary, so this tokenizer does not belong to the model`,
      );
    }
    const settings: SessionSettings = {
      provider,
      ...(provider === 'cuda' ? { deviceId: options.deviceId ?? 0 } : {}),
      ...(options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {}),
    };
    const client = InferenceClient.start();
    try {
      await client.checkProvider(settings);
    } catch (error) {
      await client.dispose();
      throw error;
    }
    options.logger?.debug(`llama subject: ${modelDir} (${model.dtype}) on ${provider}`);
    return new LlamaSubjectModel(modelDir, model, tokenizer, client, settings, maxOpenSessions, options.provenance);
  }

  hookPoints(): readonly HookPoint[] {
    return this.model.base.hookPoints.map((p) => ({ name: p.name, width: p.width }));
  }

  async forward(request: ForwardRequest): Promise<ForwardResult> {
    const { batch, seqLen } = request;
    const lengths = this.checkForward(request);
    if (request.hooks.length === 0 && (request.logits ?? 'none') === 'none') return { hooks: [] };
    const spec: VariantSpec = {
      hooks: request.hooks.map((h) => ({
        hook: h.hook,
        reduce: h.reduce,
        ...(h.fragment ? { fragment: h.fragment } : {}),
        ...(h.reduce === 'gated' && h.extremeThresholds ? { gateExtremes: true } : {}),
      })),
      logits: request.logits ?? 'none',
      kvCache: false,
      ...(request.logitIds !== undefined ? { logitIds: request.logitIds } : {}),
    };
    const session = await this.acquire(spec);
    try {
      const { variant } = session;
      const feeds: Record<string, Feed> = {};
      const mask = new BigInt64Array(batch * seqLen);
      const positions = new BigInt64Array(batch * seqLen);
      for (let row = 0; row < batch; row++) {
        for (let s = 0; s < seqLen; s++) {
          mask[row * seqLen + s] = s < lengths[row]! ? 1n : 0n;
          positions[row * seqLen + s] = BigInt(s);
        }
      }
      feeds[this.model.base.inputIds] = int64Tensor(Int32ArrayToBigInt(request.tokens), [batch, seqLen]);
      feeds[this.model.base.attentionMask] = int64Tensor(mask, [batch, seqLen]);
      if (this.model.positionIds) feeds[this.model.positionIds] = int64Tensor(positions, [batch, seqLen]);
      // Only variants whose hooks reduce declare the input. int64Tensor copies into a new array, so transferring
      // the feeds to the worker leaves the caller's countFrom intact.
      if (variant.countFrom)
        feeds[variant.countFrom] = int64Tensor(request.countFrom ?? new Int32Array(batch), [batch]);
      Object.assign(feeds, this.emptyCache(batch, variant.emptyPastInputs));
      request.hooks.forEach((h, i) => {
        const io = variant.hooks[i]!;
        if (io.top && io.bottom) {
          // Copies: feeds are transferred to the worker, which would detach the caller's arrays.
          feeds[io.top] = float32Tensor(Float32Array.from(h.thresholds!.top), [io.width]);
          feeds[io.bottom] = float32Tensor(Float32Array.from(h.thresholds!.bottom), [io.width]);
        }
        if (io.extremesTop && io.extremesBottom && io.denseRows) {
          feeds[io.extremesTop] = float32Tensor(Float32Array.from(h.extremeThresholds!.top), [io.width]);
          feeds[io.extremesBottom] = float32Tensor(Float32Array.from(h.extremeThresholds!.bottom), [io.width]);
          const rows = h.denseRows ?? new Int32Array(0);
          feeds[io.denseRows] = int64Tensor(Int32ArrayToBigInt(rows), [rows.length]);
        }
      });
      for (const name of Object.keys(feeds)) if (!session.inputNames.has(name)) delete feeds[name];
      const fetch = variant.hooks.flatMap((io) =>
        [
          io.full,
          io.max,
          io.min,
          io.gatedIndex,
          io.gatedValues,
          io.gatedMax,
          io.gatedMin,
          io.maximaIndex,
          io.maximaValues,
          io.minimaIndex,
          io.minimaValues,
          io.denseMax,
          io.denseMin,
        ].filter((n): n is string => n !== undefined),
      );
      if (variant.logits) fetch.push(variant.logits);
      const outputs = await this.client.run(variant.key, feeds, { fetch });
      return {
        hooks: variant.hooks.map((io, i) => unpackHook(io, outputs, batch, seqLen, lengths, request.hooks[i]!)),
        ...(variant.logits ? { logits: outputs[variant.logits]!.data as Float32Array } : {}),
      };
    } finally {
      this.releaseSession(session);
    }
  }

  /** Sampling with the KV cache; rows that repeat a prompt share its prefill (see `generateWithCache`). */
  generate(request: LlamaGenerationRequest): Promise<LlamaGenerationResult> {
    const { vocabSize } = this.model.config;
    return generateWithCache(
      this.pool,
      { vocabSize, eosIds: this.tokenizer.eosIds, provenance: this.provenance },
      request,
    );
  }

  /** Logits at the tokens of rows that share few prefixes, each prefix run once (see `forwardWithPrefixes`). */
  forwardWithPrefixes(request: PrefixForwardRequest): Promise<PrefixForwardResult> {
    return forwardWithPrefixes(this.pool, request);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.pool.close();
    await this.client.dispose();
  }

  private emptyCache(batch: number, inputs?: readonly string[]): Record<string, HostTensor> {
    return this.pool.emptyCache(batch, inputs);
  }

  private acquire(spec: VariantSpec): Promise<OpenSession> {
    return this.pool.acquire(spec);
  }

  private releaseSession(session: OpenSession): void {
    this.pool.release(session);
  }

  private checkForward(request: ForwardRequest): Int32Array {
    const { batch, seqLen, tokens } = request;
    if (!Number.isSafeInteger(batch) || batch < 1 || !Number.isSafeInteger(seqLen) || seqLen < 1) {
      throw new ExpgenError(`forward: batch ${batch} and seqLen ${seqLen} must be positive integers`);
    }
    if (tokens.length !== batch * seqLen)
      throw new ExpgenError(`forward: ${tokens.length} token ids given for batch ${batch} x seqLen ${seqLen}`);
    const vocab = this.model.config.vocabSize;
    for (let i = 0; i < tokens.length; i++) {
      if (tokens[i]! < 0 || tokens[i]! >= vocab) {
        throw new ExpgenError(
          `forward: token id ${tokens[i]} at row ${Math.floor(i / seqLen)}, position ${i % seqLen} is outside the model's vocabulary (0..${vocab - 1})`,
        );
      }
    }
    const lengths = request.lengths ?? new Int32Array(batch).fill(seqLen);
    if (lengths.length !== batch) throw new ExpgenError(`forward: ${lengths.length} lengths given for batch ${batch}`);
    lengths.forEach((length, row) => {
      if (!Number.isSafeInteger(length) || length < 0 || length > seqLen)
        throw new ExpgenError(`forward: length ${length} of row ${row} must be between 0 and seqLen ${seqLen}`);
    });
    if (request.countFrom) {
      if (request.countFrom.length !== batch)
        throw new ExpgenError(`forward: ${request.countFrom.length} countFrom values given for batch ${batch}`);
      // Past the row's length is allowed (nothing in the row counts); negative is a caller's bug.
      request.countFrom.forEach((start, row) => {
        if (!Number.isSafeInteger(start) || start < 0)
          throw new ExpgenError(`forward: countFrom ${start} of row ${row} must be a non-negative integer`);
      });
    }
    for (const hook of request.hooks) {
      const point = this.model.base.hookPoints.find((p) => p.name === hook.hook);
      if (hook.reduce !== 'full' && hook.reduce !== 'extremes' && hook.reduce !== 'gated') {
        throw new ExpgenError(
          `forward: hook "${hook.hook}" asks for reduction "${String(hook.reduce)}"; use "full", "extremes" or "gated"`,
        );
      }
      if (hook.reduce === 'gated' && point) {
        const width = hook.fragment ? hook.fragment.outputWidth : point.width;
        const { thresholds } = hook;
        if (!thresholds || thresholds.top.length !== width || thresholds.bottom.length !== width) {
          throw new ExpgenError(
            `forward: hook "${hook.hook}" uses reduction "gated" and needs thresholds.top and thresholds.bottom of ${width} values each`,
          );
        }
        const gate = hook.extremeThresholds;
        if (gate && (gate.top.length !== width || gate.bottom.length !== width))
          throw new ExpgenError(
            `forward: hook "${hook.hook}" needs extremeThresholds.top and extremeThresholds.bottom of ${width} values each`,
          );
      }
      if (hook.denseRows) {
        if (hook.reduce !== 'gated' || !hook.extremeThresholds)
          throw new ExpgenError(`forward: hook "${hook.hook}" asks for denseRows, which need gated extremeThresholds`);
        hook.denseRows.forEach((row, i) => {
          if (!Number.isSafeInteger(row) || row < 0 || row >= batch || (i > 0 && row <= hook.denseRows![i - 1]!))
            throw new ExpgenError(
              `forward: denseRows of hook "${hook.hook}" must be distinct ascending rows below batch ${batch}`,
            );
        });
      }
    }
    const logits = request.logits ?? 'none';
    if (logits !== 'none' && logits !== 'last' && logits !== 'all')
      throw new ExpgenError(`forward: logits "${String(logits)}" must be "none", "last" or "all"`);
    if (request.logitIds !== undefined) {
      if (logits === 'none')
        throw new ExpgenError(
          'forward: logitIds selects among returned logits; ask for logits "last" or "all" with it',
        );
      if (request.logitIds.length === 0)
        throw new ExpgenError(
          'forward: logitIds is empty; give at least one vocabulary id, or leave it out for the whole vocabulary',
        );
      for (const id of request.logitIds) {
        if (!Number.isSafeInteger(id) || id < 0 || id >= vocab)
          throw new ExpgenError(`forward: logitIds holds ${id}, outside the model's vocabulary (0..${vocab - 1})`);
      }
    }
    return lengths instanceof Int32Array ? lengths : Int32Array.from(lengths);
  }
}

async function loadTokenizer(modelDir: string): Promise<Tokenizer> {
  try {
    return await LlamaTokenizer.fromDirectory(modelDir);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ExpgenError(
      `${modelDir}: no usable tokenizer (${message}); copy the checkpoint's tokenizer.json into the model folder or pass a tokenizer`,
      { cause: error },
    );
  }
}

function Int32ArrayToBigInt(tokens: Int32Array): BigInt64Array {
  const out = new BigInt64Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) out[i] = BigInt(tokens[i]!);
  return out;
}
