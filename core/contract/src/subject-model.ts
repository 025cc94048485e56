import type { Provenance } from './provenance.js';
import type { Tokenizer } from './tokenizer.js';
import type { GraphFragment } from './graph-fragment.js';

/** A named place in the subject's computation whose values activation sources read. */
export interface HookPoint {
  /** `mlp/<layer>` (input of down_proj) or `resid/<layer>` (residual stream after decoder layer `<layer>`). */
  readonly name: string;
  /** Values per token. */
  readonly width: number;
}

/** Facts about the loaded subject that outputs record. */
export interface SubjectModelInfo {
  readonly architecture: string;
  readonly layers: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly vocabSize: number;
  /** Execution provider actually in use (`cpu`, `cuda`, `webgpu`): never a silent fallback. */
  readonly executionProvider: string;
  /** Numeric type of the weights as built (`fp32`, `fp16`). */
  readonly dtype: string;
  /** Hashes of the weights, tokenizer and config the model was built from; every run output repeats them. */
  readonly hashes: Readonly<Record<string, string>>;
  /**
   * Absolute path of a planted-truth file (`PlantedTruth`, see planted-truth.ts) when the model's features were
   * built to respond to known classes, as the demo's tiny Llama's are; absent for trained models. `expgen run`
   * compares the descriptions with it.
   */
  readonly plantedTruth?: string;
}

/**
 * What to compute at one hook point in a forward pass. Reductions run where the model runs, so a batch moves
 * O(batch x features) off the device rather than O(batch x tokens x features) — and with `extremeThresholds`,
 * O(the pairs that can still matter).
 */
export interface HookRequest {
  readonly hook: string;
  /** Applied to the hook's values before reduction (e.g. an SAE encoder); the features are its outputs. */
  readonly fragment?: GraphFragment;
  /**
   * `full`: every token's values. `extremes`: per-sequence max and min per feature. `gated`: extremes plus
   * the per-token values of only the (sequence, feature) pairs that pass `thresholds` — the pairs that can enter a
   * top-k or bottom-k list.
   */
  readonly reduce: 'full' | 'extremes' | 'gated';
  /**
   * Per-feature thresholds for `gated`: a pair passes when its max is not <= `top[f]` or its min is not
   * >= `bottom[f]` — strictly beyond, and a NaN extreme always passes so broken numerics reach the host.
   * `+Infinity` / `-Infinity` pass nothing but NaN.
   */
  readonly thresholds?: GateThresholds;
  /**
   * For `gated`: gate the per-sequence extremes too. Without it `max` and `min` are dense [batch, width]; with it
   * they are not returned, and `extremes` holds only the maxima beyond `extremeThresholds.top[f]` and the minima
   * beyond `extremeThresholds.bottom[f]` (same comparison as `thresholds`): the values that can still enter the
   * kept extremes. The host keeps them at least as loose as `thresholds`, so every gated pair's extremes leave.
   */
  readonly extremeThresholds?: GateThresholds;
  /**
   * With `extremeThresholds`: rows (ascending, distinct) whose dense max and min still leave, in `dense` — a
   * sample of sequences for a histogram of the whole distribution.
   */
  readonly denseRows?: Int32Array;
}

/** Per-feature gate of a `gated` reduction, [width] each. */
export interface GateThresholds {
  readonly top: Float32Array;
  readonly bottom: Float32Array;
}

/**
 * Per-sequence extremes that passed a gate, 8 bytes each: `index[i]` = feature * batch + row, ascending — so
 * feature-major (feature, then row), the order a host that partitions features or fills per-feature lists wants,
 * without a sort — and `values[i]` the extreme. feature * batch + row must stay below 2^31.
 */
export interface SparseExtremes {
  readonly index: Int32Array;
  readonly values: Float32Array;
}

export interface ForwardRequest {
  /** Token ids, row-major [batch, seqLen], right-padded past each row's length. */
  readonly tokens: Int32Array;
  readonly batch: number;
  readonly seqLen: number;
  /** Real tokens per row (default: every row is `seqLen` long); padded positions never count in reductions. */
  readonly lengths?: Int32Array;
  /**
   * Per row, the first position that counts in reductions (extremes and gated): positions [0, countFrom[b]) — a
   * fixed prefix such as a chat header — and positions at or past the row's length never count. Default: 0 for
   * every row. It is per row, not per hook, because one batch mixes rows whose fixed prefixes differ.
   */
  readonly countFrom?: Int32Array;
  readonly hooks: readonly HookRequest[];
  /** Which logits to return: none (default), the last real position of each row, or every position. */
  readonly logits?: 'none' | 'last' | 'all';
  /**
   * Restricts returned logits to these vocabulary ids, in this order: [batch, ids] for `last`, [batch, seqLen, ids]
   * for `all`. Only these leave the graph, so a readout of a few ids (a simulator's activation bins) moves
   * O(batch x seqLen x ids) instead of O(batch x seqLen x vocab). Needs `logits` `last` or `all`.
   */
  readonly logitIds?: readonly number[];
}

export interface HookResult {
  readonly hook: string;
  /** Features per token after the fragment, if any. */
  readonly width: number;
  /** [batch, seqLen, width] for `full`; padded positions hold NaN. */
  readonly full?: Float32Array;
  /** [batch, width] per-sequence maximum, for `extremes`, and for `gated` without `extremeThresholds`. */
  readonly max?: Float32Array;
  /** [batch, width] per-sequence minimum, likewise. */
  readonly min?: Float32Array;
  /**
   * For `gated`: pair i is (rows[i], features[i]) with per-token values values[i * seqLen .. (i + 1) * seqLen),
   * in feature-major order (feature ascending, then row). `max` and `min` [pairs] are the pair's per-sequence
   * extremes; subjects written before they existed may leave them out when they return dense `max` and `min`.
   */
  readonly gated?: {
    readonly rows: Int32Array;
    readonly features: Int32Array;
    readonly values: Float32Array;
    readonly max?: Float32Array;
    readonly min?: Float32Array;
  };
  /** For `gated` with `extremeThresholds`: the per-sequence maxima and minima that passed it. */
  readonly extremes?: { readonly maxima: SparseExtremes; readonly minima: SparseExtremes };
  /** For `gated` with `extremeThresholds` and `denseRows`: those rows' max and min, [rows.length, width] each. */
  readonly dense?: { readonly rows: Int32Array; readonly max: Float32Array; readonly min: Float32Array };
}

export interface ForwardResult {
  readonly hooks: readonly HookResult[];
  /** [batch, vocab] for `last`, [batch, seqLen, vocab] for `all`; with `logitIds`, its length replaces vocab. */
  readonly logits?: Float32Array;
}

export interface GenerationRequest {
  /** Prompt token ids per sequence (they may differ in length). */
  readonly prompts: readonly (readonly number[])[];
  readonly maxNewTokens: number;
  /** 0 decodes greedily. */
  readonly temperature?: number;
  /** Nucleus sampling mass, (0, 1]. */
  readonly topP?: number;
  /** Seed of the sampler; the same seed and prompts give the same tokens. */
  readonly seed?: number;
  /** Generation of a sequence ends after any of these ids (default: the tokenizer's `eosIds`). */
  readonly stopTokens?: readonly number[];
}

export interface GenerationResult {
  readonly sequences: readonly { readonly tokens: readonly number[]; readonly finishReason: 'stop' | 'length' }[];
  readonly generatedBy: Provenance;
}

/** The model whose features are described, and the engine under local describers and simulators. */
export interface SubjectModel {
  readonly provenance: Provenance;
  readonly info: SubjectModelInfo;
  readonly tokenizer: Tokenizer;
  /** Whether `HookRequest.fragment` runs inside the model; when false, callers request values and encode on the host. */
  readonly runsGraphFragments: boolean;
  /** Every hook point the model exposes. */
  hookPoints(): readonly HookPoint[];
  forward(request: ForwardRequest): Promise<ForwardResult>;
  generate(request: GenerationRequest): Promise<GenerationResult>;
  /** Releases sessions, workers and device memory. */
  dispose?(): Promise<void> | void;
}
