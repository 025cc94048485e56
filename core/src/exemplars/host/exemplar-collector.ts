import { availableParallelism } from 'node:os';
import {
  type ActivationSource,
  ExpgenError,
  type ForwardResult,
  type HookRequest,
  type HookResult,
  type LayerPlan,
  reduceOnHost,
} from '@expgen/contract';
import type { FeatureSelection } from '../../engine/feature-selection.js';
import { ReferenceTally } from '../state/reference-tally.js';
import { layerBatch, layerGate, selectedCount } from './layer-batch.js';
import {
  checkpointChunks,
  newSplitStates,
  restoreSplitStates,
  type LayerState,
  type SplitStates,
  type StateSettings,
} from './layer-states.js';
import { Mailbox } from './mailbox.js';
import { mergeLayerRange, targetHandles, type LayerWork } from './merge-range.js';
import { MergeWorkers, type WorkerShare } from './merge-workers.js';

/** What the collector needs of a corpus row: its id and content (CorpusSequence has all of it). */
export interface CollectedRow {
  readonly sequenceId: number;
  /** `seqLen` token ids, right-padded. */
  readonly tokens: Int32Array;
  readonly length: number;
  readonly rankFrom: number;
  readonly datasetIndex: number;
  readonly documentId: string;
  readonly split: string;
  readonly window: number;
}

export interface ExemplarCollectorOptions {
  /** The layers of one pass over the corpus. */
  readonly plans: readonly LayerPlan[];
  readonly selection: FeatureSelection;
  readonly splits: readonly string[];
  readonly settings: StateSettings;
  /** Merge threads (`exemplars.workers`), the calling thread included; 1 merges on the calling thread alone. */
  readonly workers: number;
  /**
   * `device` (the run): gates in the subject, so only what can still enter the state leaves it. `none`: the
   * reference the gates are tested against — every hook's full values come to the host and every extreme and pair
   * is offered to the states.
   */
  readonly gating?: 'device' | 'none';
  /** Set when the subject cannot run the activation source's graph fragments: hook values are encoded here. */
  readonly hostEncode?: ActivationSource;
  /** Checkpoint files to continue from (name -> bytes). */
  readonly restore?: ReadonlyMap<string, Uint8Array>;
}

/** `exemplars.workers` resolved: null takes the machine's cores minus the thread that drives inference. */
export function mergeWorkerCount(configured: number | null): number {
  return configured ?? Math.max(1, availableParallelism() - 1);
}

/**
 * Stage 1's host side for one pass over the corpus (one layer group): the states of every (split, layer), the
 * forward requests their thresholds make, and the merge of each batch's results — on the calling thread, or
 * partitioned by feature over `workers` threads (the calling thread and workers - 1 worker threads) that update the
 * states in shared memory. Whatever the number of
 * workers, every state and the sequence store end byte-identical (ranges are disjoint, and references are
 * tallied and applied in one canonical order).
 *
 * Per batch and layer the main thread renumbers the results to the selected features, checks them, admits the
 * random rows and applies the reference tally; the workers do the per-feature work: top-k insertions, kept
 * extremes, histogram, random values.
 */
export class ExemplarCollector {
  /** Bytes the subject returned (device -> host) and the sequences they covered, for the log and benchmarks. */
  readonly traffic = { bytes: 0, sequences: 0 };
  /**
   * Seconds in `apply`, and within it in the per-feature merge (the part merge workers share): the rest is the main
   * thread's serial share, which bounds the speed-up more workers can give. Wall clock, and the process's CPU time
   * (which, with one worker, is this thread's: a measure a shared machine does not inflate). For benchmarks.
   */
  readonly time = { apply: 0, merge: 0, applyCpu: 0, mergeCpu: 0 };
  private readonly mailbox = new Mailbox();
  /** The histogram sample of each batch, asked for when it is sent and again when it is applied (ids hash slowly). */
  private readonly samples = new WeakMap<readonly CollectedRow[], Int32Array>();

  private constructor(
    private readonly options: ExemplarCollectorOptions,
    private readonly states: ReadonlyMap<string, SplitStates>,
    private readonly workers: MergeWorkers | null,
  ) {}

  static open(options: ExemplarCollectorOptions): ExemplarCollector {
    const memory = options.workers > 1 ? 'shared' : 'private';
    const states = new Map<string, SplitStates>();
    for (const split of options.splits) {
      states.set(
        split,
        options.restore
          ? restoreSplitStates(options.restore, split, options.plans, options.selection, memory)
          : newSplitStates(split, options.plans, options.selection, options.settings, memory),
      );
    }
    // `workers` threads merge: this one and workers - 1 worker threads.
    const workers = options.workers > 1 ? MergeWorkers.start(options.workers - 1) : null;
    if (workers)
      for (const splitStates of states.values())
        for (const layer of splitStates.layers) workers.attach(stateKey(layer), targetHandles(layer));
    return new ExemplarCollector(options, states, workers);
  }

  /** The states of one split (to write files, read counts, or inspect in tests). */
  split(name: string): SplitStates {
    const states = this.states.get(name);
    if (!states) throw new Error(`ExemplarCollector: no split "${name}"`);
    return states;
  }

  /** Sequences of `split` merged so far (batches sent but not yet applied do not count). */
  sequencesSeen(split: string): number {
    return this.split(split).layers[0]?.distribution.sequencesSeen ?? 0;
  }

  get splits(): readonly SplitStates[] {
    return [...this.states.values()];
  }

  /**
   * The hook requests of a batch of `split`: every layer gated with the states' current thresholds — the top-k
   * gate, and the extremes gate (at least as loose, so every gated pair's extremes leave too) — with the rows of the
   * histogram sample dense. Features outside the selection get closed gates.
   */
  hooks(split: string, rows: readonly CollectedRow[]): HookRequest[] {
    const states = this.split(split);
    const gating = this.options.gating ?? 'device';
    const sampleRows = this.sampleRows(states, rows);
    return states.layers.map((layer) => {
      const { plan } = layer;
      // Gated extremes come back as one int32 index per value, feature * batch + row.
      if (plan.width * rows.length >= 2 ** 31)
        throw new ExpgenError(
          `exemplars.batchSize: ${rows.length} rows x ${plan.width} features of layer ${plan.layer} is 2^31 or more; lower the batch size`,
        );
      const fragment = plan.fragment && !this.options.hostEncode ? { fragment: plan.fragment } : {};
      if (gating === 'none' || (this.options.hostEncode && plan.fragment))
        return { hook: plan.hook, reduce: 'full', ...fragment };
      return { ...gatedRequest(layer, sampleRows), ...fragment };
    });
  }

  /** Rows of a batch whose full values the random sequences may take (ask before the forward pass). */
  randomRows(split: string, rows: readonly CollectedRow[]): number[] {
    const random = this.split(split).layers[0]?.random;
    return random ? rows.flatMap((row, b) => (random.wouldAdmit(row.sequenceId) ? [b] : [])) : [];
  }

  /** The hook requests of the random rows' second pass: full values of every layer. */
  randomHooks(split: string): HookRequest[] {
    return this.split(split).layers.map(({ plan }) => ({
      hook: plan.hook,
      reduce: 'full',
      ...(plan.fragment && !this.options.hostEncode ? { fragment: plan.fragment } : {}),
    }));
  }

  /**
   * Merges one batch of `split` into its states: `result` answers `hooks(split, rows)` (sent before the previous
   * batch was applied: thresholds one batch old are looser, never wrong), `random` the random rows' full pass.
   * Then the sequence store takes the tally of references and the content of every row it now refers to.
   */
  async apply(
    split: string,
    rows: readonly CollectedRow[],
    result: ForwardResult,
    random?: { readonly rows: readonly number[]; readonly result: ForwardResult },
  ): Promise<void> {
    const started = performance.now();
    const startedCpu = cpuSeconds();
    const states = this.split(split);
    const seqLen = this.options.settings.seqLen;
    const sequenceIds = Float64Array.from(rows, (row) => row.sequenceId);
    const sampleRows = this.sampleRows(states, rows);
    const tally = new ReferenceTally();
    let tokens = 0;
    for (const row of rows) tokens += Math.max(0, row.length - row.rankFrom);
    this.traffic.sequences += rows.length;
    if (random) this.traffic.bytes += random.result.hooks.reduce((sum, hook) => sum + deviceBytes(hook), 0);

    const works = states.layers.map((layer, i): LayerWork => {
      const returned = result.hooks[i]!;
      this.traffic.bytes += deviceBytes(returned);
      const hook = returned.full ? this.reduceFull(layer, returned, rows) : returned;
      const batch = layerBatch(hook, layer.selection, { sequenceIds, seqLen, sampleRows });
      layer.topK.checkBatch(batch.topK);
      return { ...batch, random: this.randomWork(layer, rows, random, tally) };
    });

    const merging = performance.now();
    const mergingCpu = cpuSeconds();
    if (this.workers) {
      // The calling thread takes the first share of every layer's features while the workers take the others.
      const { buffer, packed } = this.mailbox.pack(works);
      const parts = this.workers.size + 1;
      const shares: WorkerShare[][] = Array.from({ length: this.workers.size }, () => []);
      const own: [number, number][] = [];
      states.layers.forEach((layer, i) => {
        const features = selectedCount(layer.selection);
        const bound = (part: number) => Math.floor((features * part) / parts);
        own.push([bound(0), bound(1)]);
        shares.forEach((share, w) => {
          if (bound(w + 1) < bound(w + 2))
            share.push({ key: stateKey(layer), from: bound(w + 1), to: bound(w + 2), work: packed[i]! });
        });
      });
      const replies = this.workers.merge(buffer, shares);
      replies.catch(() => undefined); // observed below; a failure here first must not leave it unhandled
      states.layers.forEach((layer, i) => {
        mergeLayerRange(layer, works[i]!, own[i]![0], own[i]![1], tally);
      });
      for (const reply of await replies) tally.add(reply);
    } else {
      states.layers.forEach((layer, i) => {
        mergeLayerRange(layer, works[i]!, 0, selectedCount(layer.selection), tally);
      });
    }
    this.time.merge += (performance.now() - merging) / 1000;
    this.time.mergeCpu += cpuSeconds() - mergingCpu;

    for (const layer of states.layers) {
      layer.topK.commitBatch({ sequenceIds });
      layer.distribution.count(rows.length, tokens);
    }
    tally.applyTo(states.store);
    for (const row of rows) {
      if (states.store.references(row.sequenceId) === 0 || states.store.has(row.sequenceId)) continue;
      states.store.put(row.sequenceId, {
        tokens: row.tokens,
        length: row.length,
        datasetIndex: row.datasetIndex,
        documentId: row.documentId,
        split: row.split,
        window: row.window,
        countFrom: row.rankFrom,
      });
    }
    this.time.apply += (performance.now() - started) / 1000;
    this.time.applyCpu += cpuSeconds() - startedCpu;
  }

  /** Every state as checkpoint files (name -> chunks); call between batches, and write the chunks at once. */
  checkpointFiles(): Map<string, Uint8Array[]> {
    const files = new Map<string, Uint8Array[]>();
    for (const states of this.states.values())
      for (const [name, chunks] of checkpointChunks(states)) files.set(name, chunks);
    return files;
  }

  async close(): Promise<void> {
    await this.workers?.close();
  }

  /** Rows of the batch in the histogram sample (the same for every layer: a function of the id). */
  private sampleRows(states: SplitStates, rows: readonly CollectedRow[]): Int32Array {
    let sample = this.samples.get(rows);
    if (sample) return sample;
    const distribution = states.layers[0]?.distribution;
    sample = distribution
      ? Int32Array.from(rows.flatMap((row, b) => (distribution.inHistogramSample(row.sequenceId) ? [b] : [])))
      : new Int32Array(0);
    this.samples.set(rows, sample);
    return sample;
  }

  /**
   * The reductions of a `full` result, on the host: the reference path offers everything (gates wide open); a
   * subject that cannot run the fragment gets it encoded here first, then gated as the graph would gate it.
   */
  private reduceFull(layer: LayerState, hook: HookResult, rows: readonly CollectedRow[]): HookResult {
    const seqLen = this.options.settings.seqLen;
    const { plan } = layer;
    const values =
      this.options.hostEncode && plan.fragment
        ? this.options.hostEncode.encode(plan.layer, hook.full!, rows.length * seqLen)
        : hook.full!;
    const shape = {
      batch: rows.length,
      seqLen,
      width: plan.width,
      lengths: Int32Array.from(rows, (row) => row.length),
      countFrom: Int32Array.from(rows, (row) => row.rankFrom),
    };
    if ((this.options.gating ?? 'device') === 'none') {
      const open = {
        top: new Float32Array(plan.width).fill(-Infinity),
        bottom: new Float32Array(plan.width).fill(Infinity),
      };
      return reduceOnHost(values, shape, { hook: plan.hook, reduce: 'gated', thresholds: open });
    }
    // Gated here as the graph would gate it, with the states' current thresholds.
    return reduceOnHost(values, shape, gatedRequest(layer, this.sampleRows(this.split(layer.split), rows)));
  }

  /** The slots the random rows of this layer go to (the main thread decides; workers copy the values). */
  private randomWork(
    layer: LayerState,
    rows: readonly CollectedRow[],
    random: { readonly rows: readonly number[]; readonly result: ForwardResult } | undefined,
    tally: ReferenceTally,
  ): LayerWork['random'] {
    if (!layer.random || !random || random.rows.length === 0) return null;
    const index = this.split(layer.split).layers.indexOf(layer);
    const seqLen = this.options.settings.seqLen;
    let values = random.result.hooks[index]!.full!;
    if (this.options.hostEncode && layer.plan.fragment)
      values = this.options.hostEncode.encode(layer.plan.layer, values, random.rows.length * seqLen);
    const slots = Int32Array.from(random.rows, (b) => layer.random!.admit(rows[b]!.sequenceId, tally));
    return { slots, values, sourceWidth: layer.plan.width, columns: layer.selection.indices };
  }
}

/**
 * The gated request of one layer with the states' current thresholds: the top-k gate, and the extremes gate at
 * least as loose (so every gated pair's extremes leave too), both closed for features outside the selection.
 */
function gatedRequest(layer: LayerState, denseRows: Int32Array): HookRequest {
  const thresholds = layer.topK.thresholds();
  const extremes = layer.distribution.thresholds();
  for (let f = 0; f < layer.topK.features; f++) {
    extremes.top[f] = Math.min(extremes.top[f]!, thresholds.top[f]!);
    extremes.bottom[f] = Math.max(extremes.bottom[f]!, thresholds.bottom[f]!);
  }
  return {
    hook: layer.plan.hook,
    reduce: 'gated',
    thresholds: layerGate(layer.selection, thresholds),
    extremeThresholds: layerGate(layer.selection, extremes),
    denseRows,
  };
}

function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

function stateKey(layer: LayerState): string {
  return `${layer.split}/${layer.plan.layer}`;
}

/** Bytes of the arrays a subject returned for one hook: what crossed from the device to the host. */
export function deviceBytes(hook: HookResult): number {
  let bytes = 0;
  const add = (array: ArrayBufferView | undefined) => {
    bytes += array?.byteLength ?? 0;
  };
  add(hook.full);
  add(hook.max);
  add(hook.min);
  if (hook.gated) {
    add(hook.gated.rows);
    add(hook.gated.features);
    add(hook.gated.values);
    add(hook.gated.max);
    add(hook.gated.min);
  }
  for (const extremes of hook.extremes ? [hook.extremes.maxima, hook.extremes.minima] : []) {
    add(extremes.index);
    add(extremes.values);
  }
  add(hook.dense?.max);
  add(hook.dense?.min);
  return bytes;
}
