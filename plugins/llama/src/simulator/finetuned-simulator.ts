import {
  type CallStore,
  ExpgenError,
  type ForwardRequest,
  type ForwardResult,
  type Provenance,
  type SimulateRequest,
  type SimulateResult,
  type Simulator,
  type SubjectModelInfo,
  type Tokenizer,
} from '@expgen/contract';
import type { PrefixForwardRequest, PrefixForwardResult } from '../runtime/prefix-forward.js';
import { LlamaTokenizer, vocabularyFingerprint } from '../tokenizer/llama-tokenizer.js';

/** What the simulator needs of the model it runs: the llama engine, or a stand-in in tests. */
export interface SimulatorEngine {
  readonly info: SubjectModelInfo;
  readonly provenance: Provenance;
  /** The simulator's base tokenizer (Llama-3.1's): the description prefix is encoded with it. */
  readonly tokenizer: Tokenizer;
  /** Must honour `logitIds`. */
  forward(request: ForwardRequest): Promise<ForwardResult>;
  /** Rows that share prefixes, each prefix computed once; without it every row recomputes its prefix. */
  forwardWithPrefixes?(request: PrefixForwardRequest): Promise<PrefixForwardResult>;
  dispose?(): Promise<void> | void;
}

export interface FinetunedSimulatorSettings {
  /** Ids replaced before they reach the model (control tokens the fine-tune moved to new ids). */
  readonly remap: ReadonlyMap<number, number>;
  /** Id written into padded positions (masked out, so it never changes a prediction). */
  readonly padId: number;
  /** Vocabulary ids whose logits are the activation bins 0..binIds.length-1, in bin order. */
  readonly binIds: readonly number[];
  /** Most (description, exemplar) rows per forward pass. */
  readonly batchSize: number;
  /**
   * Compute each description's prefix once and reuse its KV cache for all of its exemplars (default true, when the
   * engine can); false: every row runs BOS + prefix + exemplar whole.
   */
  readonly prefixReuse?: boolean;
  /** The durable call cache (`callStoreFor(context, 'simulator/finetuned')`); null: no cache. */
  readonly callCache: CallStore | null;
}

/** The released simulator's prompt: BOS, then this with the description filled in, then the exemplar's ids. */
export const SIMULATOR_PREFIX = '## Neuron Description: {description}\n\n ## Input: ';

/** The released simulator's settings: PAD after Llama 3's 128,256 ids, then four remapped control tokens. */
export const RELEASED_SIMULATOR = {
  remap: new Map([
    [128000, 128257], // <|begin_of_text|>
    [128006, 128258], // <|start_header_id|>
    [128007, 128259], // <|end_header_id|>
    [128009, 128260], // <|eot_id|>
  ]),
  padId: 128256,
  binIds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
} as const;

/** Changes when the cache entry layout or what determines a prediction changes. */
const CACHE_FORMAT = 1;

/** What a simulate call ran through the model, in hardware-independent units. */
export interface SimulatorUsage {
  /** Tokens through the model (padding not counted): each prefix once with reuse, once per row without. */
  readonly tokens: number;
  readonly passes: number;
  /** (description, exemplar) predictions read from the cache. */
  readonly cachedPredictions: number;
}

/** The contract's result, plus what the call ran (`usage`). */
export interface FinetunedSimulateResult extends SimulateResult {
  readonly usage: SimulatorUsage;
}

/** Work counters of a simulate call. */
interface Counters {
  tokens: number;
  passes: number;
  cachedPredictions: number;
}

/**
 * The fine-tuned simulator run locally. Each row is BOS + the description prefix + the subject's token ids of one
 * exemplar, with `remap` applied to the whole row (the BOS included, as the reference implementation replaces
 * every occurrence in its input). At each exemplar token's own position the logits of `binIds` — the only logits
 * that leave the graph — give a softmax over bins 0..10, and the prediction is the expected bin.
 *
 * With prefix reuse (the default), each distinct description prefix runs through the model once and its KV cache
 * is the past of every row of that description, which then runs only the exemplar's tokens: the work per
 * description falls from sequences x (prefix + exemplar) tokens to prefix + sequences x exemplar. Without it, every
 * row runs whole, right-padded with `padId`, exemplar-major so a batch of descriptions on one exemplar shares a
 * pass. Either way one pass scores up to `batchSize` rows, and the predictions are the same up to float rounding.
 * Predictions are cached durably per (model, description, exemplar).
 */
export class FinetunedSimulator implements Simulator {
  readonly provenance: Provenance;
  /** Forward passes run, rows they scored, tokens through the model, and pairs read from the cache, so far. */
  readonly stats = { passes: 0, rows: 0, tokens: 0, cached: 0 };
  private readonly cache: CallStore | null;
  private readonly modelKey: Record<string, unknown>;
  private readonly settingsKey: Record<string, unknown>;
  private readonly remapTable: Map<number, number>;

  constructor(
    private readonly engine: SimulatorEngine,
    private readonly settings: FinetunedSimulatorSettings,
    provenance: Provenance,
  ) {
    const vocab = engine.info.vocabSize;
    const base = engine.tokenizer.vocabSize;
    const inModel = (id: number) => Number.isSafeInteger(id) && id >= 0 && id < vocab;
    if (settings.binIds.length < 2)
      throw new ExpgenError(
        `finetuned simulator: binIds has ${settings.binIds.length} ids; the readout needs at least two bins`,
      );
    for (const id of settings.binIds)
      if (!inModel(id))
        throw new ExpgenError(
          `finetuned simulator: bin id ${id} is outside the simulator's vocabulary (0..${vocab - 1})`,
        );
    if (!inModel(settings.padId))
      throw new ExpgenError(
        `finetuned simulator: padId ${settings.padId} is outside the simulator's vocabulary (0..${vocab - 1})`,
      );
    for (const [from, to] of settings.remap) {
      if (!Number.isSafeInteger(from) || from < 0 || from >= base)
        throw new ExpgenError(
          `finetuned simulator: remap source ${from} is outside the base vocabulary (0..${base - 1})`,
        );
      if (!inModel(to)) {
        throw new ExpgenError(
          `finetuned simulator: remap target ${to} (for ${from}) is outside the simulator's vocabulary (0..${vocab - 1}); is this the fine-tuned simulator with its extended vocabulary?`,
        );
      }
    }
    if (!Number.isSafeInteger(settings.batchSize) || settings.batchSize < 1)
      throw new ExpgenError(`finetuned simulator: batchSize ${settings.batchSize} must be a positive integer`);
    this.remapTable = new Map(settings.remap);
    const remap = Object.fromEntries([...settings.remap].sort((a, b) => a[0] - b[0]));
    this.settingsKey = { prefix: SIMULATOR_PREFIX, remap, binIds: [...settings.binIds] };
    this.provenance = {
      ...provenance,
      settings: {
        ...engine.provenance.settings,
        ...provenance.settings,
        ...this.settingsKey,
        padId: settings.padId,
        readout: 'expected-bin',
        prefixReuse: this.reusesPrefixes,
      },
    };
    this.cache = settings.callCache;
    this.modelKey = { hashes: engine.info.hashes, dtype: engine.info.dtype };
  }

  /** The model input for one description before the exemplar: BOS + prefix, remapped. */
  prefixIds(description: string): number[] {
    const text = SIMULATOR_PREFIX.replace('{description}', () => description);
    return this.remapIds(this.engine.tokenizer.encode(text, { addBos: true }));
  }

  remapIds(ids: readonly number[]): number[] {
    return ids.map((id) => this.remapTable.get(id) ?? id);
  }

  private get reusesPrefixes(): boolean {
    return this.settings.prefixReuse !== false && this.engine.forwardWithPrefixes !== undefined;
  }

  async simulate(request: SimulateRequest): Promise<FinetunedSimulateResult> {
    const { descriptions, sequences } = request;
    const base = this.engine.tokenizer.vocabSize;
    sequences.forEach((sequence, s) => {
      sequence.forEach((id, t) => {
        if (!Number.isSafeInteger(id) || id < 0 || id >= base) {
          throw new ExpgenError(
            `finetuned simulator: token ${t} of sequence ${s} is ${id}, outside the vocabulary it shares with the subject (0..${base - 1})`,
          );
        }
      });
    });
    const predictions = descriptions.map(() => sequences.map((sequence) => new Float32Array(sequence.length)));
    const prefixes = descriptions.map((d) => this.prefixIds(d));
    const keyOf = (d: number, s: number) => ({
      format: CACHE_FORMAT,
      model: this.modelKey,
      ...this.settingsKey,
      description: descriptions[d]!,
      exemplar: [...sequences[s]!],
    });
    const counters: Counters = { tokens: 0, passes: 0, cachedPredictions: 0 };

    // Exemplar-major, so consecutive rows share an exemplar and a batch of descriptions fills one pass.
    const pairs: { d: number; s: number }[] = [];
    for (let s = 0; s < sequences.length; s++) {
      if (sequences[s]!.length === 0) continue;
      const todo: number[] = [];
      for (let d = 0; d < descriptions.length; d++) {
        const cached = this.cache ? await this.cache.get<number[]>(keyOf(d, s)) : undefined;
        if (cached !== undefined && cached.length === sequences[s]!.length) {
          predictions[d]![s]!.set(cached);
          counters.cachedPredictions++;
        } else todo.push(d);
      }
      // Similar prefix lengths side by side waste less padding.
      todo.sort((a, b) => prefixes[a]!.length - prefixes[b]!.length || a - b);
      for (const d of todo) pairs.push({ d, s });
    }
    const bins = this.settings.binIds.length;
    const read = async ({ d, s }: { d: number; s: number }, logits: Float32Array, offset: number, stride: number) => {
      const out = predictions[d]![s]!;
      for (let t = 0; t < out.length; t++) out[t] = expectedBin(logits, offset + t * stride, bins);
      await this.cache?.put(keyOf(d, s), Array.from(out));
    };
    if (pairs.length > 0) {
      if (this.reusesPrefixes) await this.runWithPrefixReuse(pairs, prefixes, sequences, read, counters);
      else await this.runWhole(pairs, prefixes, sequences, read, counters);
    }
    this.stats.passes += counters.passes;
    this.stats.tokens += counters.tokens;
    this.stats.cached += counters.cachedPredictions;
    this.stats.rows += pairs.length;
    return { predictions, mode: 'expected-bin', simulatedBy: this.provenance, usage: { ...counters } };
  }

  /** Each distinct prefix once, then every row's exemplar tokens on its prefix's KV cache. */
  private async runWithPrefixReuse(
    pairs: readonly { d: number; s: number }[],
    prefixes: readonly number[][],
    sequences: readonly (readonly number[])[],
    read: (pair: { d: number; s: number }, logits: Float32Array, offset: number, stride: number) => Promise<void>,
    counters: Counters,
  ): Promise<void> {
    const distinct = new Map<string, number>();
    const prefixRows: number[][] = [];
    const prefixOf = (d: number) => {
      const key = prefixes[d]!.join(',');
      let index = distinct.get(key);
      if (index === undefined) {
        index = prefixRows.push(prefixes[d]!) - 1;
        distinct.set(key, index);
      }
      return index;
    };
    // Description-major: a batch of rows reads few prefixes.
    const rows = [...pairs].sort((a, b) => a.d - b.d || a.s - b.s);
    const { logits, usage } = await this.engine.forwardWithPrefixes!({
      rows: rows.map(({ d, s }) => ({ prefix: prefixOf(d), tokens: this.remapIds(sequences[s]!) })),
      prefixes: prefixRows,
      logitIds: this.settings.binIds,
      padId: this.settings.padId,
      batchSize: this.settings.batchSize,
    });
    counters.passes += usage.passes;
    counters.tokens += usage.prefixTokens + usage.rowTokens;
    const bins = this.settings.binIds.length;
    await Promise.all(rows.map((pair, r) => read(pair, logits[r]!, 0, bins)));
  }

  /** Every row whole: BOS + prefix + exemplar, right-padded, up to `batchSize` rows per pass. */
  private async runWhole(
    pairs: readonly { d: number; s: number }[],
    prefixes: readonly number[][],
    sequences: readonly (readonly number[])[],
    read: (pair: { d: number; s: number }, logits: Float32Array, offset: number, stride: number) => Promise<void>,
    counters: Counters,
  ): Promise<void> {
    const bins = this.settings.binIds.length;
    for (let start = 0; start < pairs.length; start += this.settings.batchSize) {
      const rows = pairs.slice(start, start + this.settings.batchSize);
      const inputs = rows.map(({ d, s }) => [...prefixes[d]!, ...this.remapIds(sequences[s]!)]);
      const seqLen = Math.max(...inputs.map((r) => r.length));
      const tokens = new Int32Array(rows.length * seqLen).fill(this.settings.padId);
      inputs.forEach((input, r) => {
        tokens.set(input, r * seqLen);
      });
      const lengths = Int32Array.from(inputs, (input) => input.length);
      const { logits } = await this.engine.forward({
        tokens,
        batch: rows.length,
        seqLen,
        lengths,
        hooks: [],
        logits: 'all',
        logitIds: this.settings.binIds,
      });
      if (!logits || logits.length !== rows.length * seqLen * bins) {
        throw new ExpgenError(
          `finetuned simulator: the engine returned ${logits?.length ?? 'no'} logits for ${rows.length} x ${seqLen} positions x ${bins} bins; it must honour logitIds`,
        );
      }
      counters.passes++;
      counters.tokens += inputs.reduce((n, input) => n + input.length, 0);
      await Promise.all(
        rows.map((pair, r) => read(pair, logits, (r * seqLen + prefixes[pair.d]!.length) * bins, bins)),
      );
    }
  }

  async dispose(): Promise<void> {
    await this.engine.dispose?.();
  }
}

/** Softmax over `bins` logits at `offset`, and the expected bin index under it (computed in float64). */
export function expectedBin(logits: Float32Array, offset: number, bins: number): number {
  let max = -Infinity;
  for (let k = 0; k < bins; k++) max = Math.max(max, logits[offset + k]!);
  let total = 0;
  let weighted = 0;
  for (let k = 0; k < bins; k++) {
    const p = Math.exp(logits[offset + k]! - max);
    total += p;
    weighted += k * p;
  }
  return weighted / total;
}

/**
 * Refuses a subject whose token ids the simulator would misread: the simulator reads the subject's ids directly, so
 * the subject's vocabulary must be the simulator's base vocabulary (equal fingerprints), or its first ids when the
 * simulator's tokenizer lists extra ones.
 */
export function checkSharedVocabulary(subject: Tokenizer, simulator: Tokenizer, simulatorSource: string): void {
  if (subject.fingerprint === simulator.fingerprint) return;
  if (simulator instanceof LlamaTokenizer && simulator.vocabSize > subject.vocabSize) {
    const prefix = vocabularyFingerprint(
      Array.from({ length: subject.vocabSize }, (_, id) => simulator.tokenString(id)),
    );
    if (prefix === subject.fingerprint) return;
  }
  throw new ExpgenError(
    `the subject's tokenizer (${subject.vocabSize} ids, fingerprint ${subject.fingerprint.slice(0, 12)}) differs from the fine-tuned simulator's base vocabulary ` +
      `(${simulatorSource}: ${simulator.vocabSize} ids, fingerprint ${simulator.fingerprint.slice(0, 12)}). The simulator reads the subject's token ids directly, ` +
      'so it only serves subjects that share its tokenizer (Llama-3.x); for this subject use a simulator that reads text, such as an OpenAI-compatible one',
  );
}
