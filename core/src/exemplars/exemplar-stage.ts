import { join } from 'node:path';
import {
  type ActivationSource,
  type DatasetSource,
  ExpgenError,
  type ForwardResult,
  type Logger,
  type SubjectModel,
} from '@expgen/contract';
import type { ExpgenConfig } from '../config/config-schema.js';
import type { FeatureSelection } from '../engine/feature-selection.js';
import { stoppedError } from '../engine/interrupts.js';
import { formatCount, formatDuration, startProgress, type Progress, type ProgressSetting } from '../engine/progress.js';
import {
  CHECKPOINT_FORMAT,
  checkpointFolder,
  completedOutput,
  readCheckpoint,
  removeCheckpoints,
  writeCheckpoint,
  type CheckpointInfo,
} from './checkpoint-files.js';
import { CorpusStream, type CorpusEnd, type CorpusSequence, type ShardSpec } from './corpus/index.js';
import { ExemplarCollector, mergeWorkerCount } from './host/exemplar-collector.js';
import { histogramSampleOf } from './host/layer-states.js';
import { groupLayers } from './layer-groups.js';
import {
  EXEMPLARS_DIR,
  SplitCountsCollector,
  buildManifest,
  writeExemplarManifest,
  writeLayerSplitFiles,
  type ExemplarManifest,
  type ExemplarOutputInfo,
  type ManifestLayer,
} from './storage/index.js';

export { layerStateBytes } from './layer-groups.js';

/** Everything stage 1 needs: the composed components and the `exemplars` section of the config. */
export interface ExemplarStageInput {
  readonly subject: SubjectModel;
  readonly activation: ActivationSource;
  readonly datasets: readonly { readonly source: DatasetSource; readonly ratio: number; readonly name?: string }[];
  readonly settings: ExpgenConfig['exemplars'];
  readonly selection: FeatureSelection;
  readonly outDir: string;
  /** sha256 of the resolved config; a checkpoint or output made under another config is never reused. */
  readonly configHash: string;
  readonly shard?: ShardSpec;
  readonly logger: Logger;
  /** `true`: a bar on a terminal, periodic lines otherwise; `false`: none (tests); or the run's progress factory. */
  readonly progress?: ProgressSetting;
  readonly signal?: AbortSignal;
  /** Test hook: called after every applied batch with the number of sequences done (e.g. to kill mid-run). */
  readonly onBatch?: (sequencesDone: number) => void;
  /**
   * `none`: the ungated reference the gates are tested against (every hook's full values come to the host and
   * every extreme and pair is offered); same files, much more traffic. Default `device`.
   */
  readonly gating?: 'device' | 'none';
}

export interface ExemplarStageSummary {
  readonly outDir: string;
  readonly manifest: ExemplarManifest;
  readonly end: CorpusEnd | { reason: 'already-complete' };
  readonly sequences: number;
  readonly tokens: number;
  readonly seconds: number;
  /** Layer groups, one corpus pass each, chosen to fit the memory budget. */
  readonly groups: readonly (readonly number[])[];
  readonly resumed: boolean;
  /** Bytes the subject returned to the host, per sequence streamed (over every pass). */
  readonly deviceBytesPerSequence: number;
}

/**
 * Stage 1: one streaming pass of the corpus through the subject per layer group, keeping per feature the top-k
 * and bottom-k sequences with per-token activations, the split's random sequences and the tail of the activation
 * distribution — exact, resumable after a kill at any moment, and shardable. States are sized by the selected
 * features: a run over a few keys keeps and writes only those.
 *
 * The hot path: each batch of one split goes to the subject with `gated` reductions on every layer of the group,
 * fed the split's current thresholds for the top-k lists and for the kept extremes, so only (sequence, feature)
 * pairs and extremes that can still enter the state leave the device (host/exemplar-collector.ts). The next batch
 * is sent before the previous one is applied, so the inference worker runs while the merge workers merge;
 * thresholds one batch old are looser, never wrong (the state only tightens). Random sequences are chosen by a
 * hash of their id, so their rows are known before the forward pass and asked for in full in a second, small pass.
 */
export async function runExemplarStage(input: ExemplarStageInput): Promise<ExemplarStageSummary> {
  const started = Date.now();
  const { subject, activation, settings, outDir, logger } = input;
  const shard = input.shard ?? { index: 0, count: 1 };
  const layers = [...input.selection.keys()];
  if (layers.length === 0) throw new ExpgenError('no layers selected: check --features and activation.options.layers');
  const plans = layers.map((layer) => activation.plan(layer));
  const splits = (['train', 'valid', 'test'] as const).filter((s) => settings.splits[s] > 0);
  if (splits.length === 0)
    throw new ExpgenError('exemplars.splits: every split has share 0; give at least one a positive share');
  const hostEncode = plans.some((p) => p.fragment) && !subject.runsGraphFragments;
  if (hostEncode)
    logger.warn('the subject cannot run graph fragments: hook values are copied to the host and encoded there (slow)');
  const manifestLayers: ManifestLayer[] = plans.map((p) => {
    const chosen = input.selection.get(p.layer);
    const base = { space: activation.space, layer: p.layer, features: p.width };
    return chosen === undefined || chosen === 'all' || chosen.length === p.width ? base : { ...base, selected: chosen };
  });

  const existing = completedOutput(outDir, input.configHash, shard);
  if (existing) {
    logger.info(`${outDir}: stage 1 is already complete for this config; nothing to do`);
    return {
      outDir,
      manifest: existing,
      end: { reason: 'already-complete' },
      sequences: 0,
      tokens: 0,
      seconds: 0,
      groups: [layers],
      resumed: false,
      deviceBytesPerSequence: 0,
    };
  }

  const groups = groupLayers(plans, input.selection, settings, splits.length, logger);
  const workers = mergeWorkerCount(settings.workers);
  if (workers > 1) logger.info(`merging each batch on ${workers} worker threads`);
  const checkpoint = readCheckpoint(outDir, input.configHash, shard);
  if (checkpoint)
    logger.info(
      `resuming from the checkpoint in ${join(outDir, EXEMPLARS_DIR, 'checkpoint')}: layer group ${checkpoint.info.group + 1}, ${checkpoint.info.sequencesDone} sequences done`,
    );

  const counts = new SplitCountsCollector();
  let info: ExemplarOutputInfo | undefined;
  let lastEnd: CorpusEnd | undefined;
  let sequencesDone = 0;
  // Tokens streamed through the subject over every pass (for the rate); each pass reads the same corpus.
  let tokensStreamed = 0;
  let tokensDone = 0;
  const traffic = { bytes: 0, sequences: 0 };
  const perShard = Math.ceil((settings.sequences - shard.index) / shard.count);
  const progress: Progress | undefined = startProgress(input.progress, {
    label: 'exemplars',
    total: perShard * groups.length,
    unit: 'sequences',
    rateOf: 'tokens',
  });

  for (let g = checkpoint?.info.group ?? 0; g < groups.length; g++) {
    const groupLayers = groups[g]!;
    const resume = checkpoint && checkpoint.info.group === g && checkpoint.buffers.size > 0 ? checkpoint : undefined;
    const collector = ExemplarCollector.open({
      plans: groupLayers.map((layer) => plans[layers.indexOf(layer)]!),
      selection: input.selection,
      splits,
      settings: { ...settings, histogramSample: histogramSampleOf(settings) },
      workers,
      ...(input.gating ? { gating: input.gating } : {}),
      ...(hostEncode ? { hostEncode: activation } : {}),
      ...(resume ? { restore: resume.buffers } : {}),
    });
    if (g > 0 || resume) logger.info(`layer group ${g + 1}/${groups.length}: layers ${groupLayers.join(', ')}`);
    try {
      const stream = new CorpusStream({
        ...settings,
        tokenizer: subject.tokenizer,
        sources: input.datasets.map((d) => ({ source: d.source, ratio: d.ratio, ...(d.name ? { name: d.name } : {}) })),
        shard,
        skipSequences: resume?.info.resumeFrom ?? 0,
        ...(input.signal ? { signal: input.signal } : {}),
      });
      const pass = await streamPass({
        input,
        collector,
        stream,
        group: g,
        resume: resume?.info,
        onProgress: (groupSequences, groupTokens) =>
          progress?.update(g * perShard + groupSequences, { tokens: tokensStreamed + groupTokens }),
        checkpoint: (partial) =>
          writeCheckpoint(
            outDir,
            { format: CHECKPOINT_FORMAT, configHash: input.configHash, shard, group: g, ...partial },
            collector.checkpointFiles(),
          ),
      });
      lastEnd = stream.end ?? undefined;
      info ??= {
        configHash: input.configHash,
        parameters: {
          seqLen: settings.seqLen,
          k: settings.topK,
          randomCount: settings.randomPerFeature,
          randomSeed: String(settings.seed),
          extremesKept: settings.extremesKept,
          histogram: {
            low: settings.histogramRange[0],
            high: settings.histogramRange[1],
            bins: settings.histogramBins,
          },
          histogramSample: collector.splits[0]!.layers[0]!.distribution.histogramSample,
          countedFrom: settings.rankPrefix ? 0 : stream.prefixTokens.length,
        },
        datasets: stream.datasetNames,
      };
      for (const states of collector.splits) {
        for (const layer of states.layers) {
          const key = { space: activation.space, layer: layer.plan.layer, split: states.split };
          const { indices, width } = layer.selection;
          writeLayerSplitFiles(
            outDir,
            {
              ...key,
              topK: layer.topK,
              distribution: layer.distribution,
              ...(layer.random ? { random: layer.random } : {}),
              ...(indices ? { selected: { features: indices, width } } : {}),
            },
            states.store,
            info,
          );
          counts.add(key, layer.distribution);
        }
      }
      sequencesDone = pass.sequences;
      tokensDone = pass.tokens;
      tokensStreamed += pass.tokens;
      traffic.bytes += collector.traffic.bytes;
      traffic.sequences += collector.traffic.sequences;
    } finally {
      await collector.close();
    }
    if (g + 1 < groups.length) {
      // The finished group's files are final: a kill from here on resumes at the next group.
      writeCheckpoint(
        outDir,
        {
          format: CHECKPOINT_FORMAT,
          configHash: input.configHash,
          shard,
          group: g + 1,
          resumeFrom: 0,
          appliedAbove: [],
          sequencesDone: 0,
          tokensDone: 0,
        },
        new Map(),
      );
    }
  }

  // Complete means the stage reached the end of its stream (also when a source ran dry, which is reported).
  const manifest = buildManifest(info!, { shard, complete: true, splits: counts.result(), layers: manifestLayers });
  writeExemplarManifest(outDir, manifest);
  removeCheckpoints(outDir);
  const seconds = (Date.now() - started) / 1000;
  progress?.finish();
  if (lastEnd?.reason === 'source-exhausted') logger.warn(lastEnd.message);
  const passes = groups.length > 1 ? ` in ${groups.length} passes` : '';
  const deviceBytesPerSequence = traffic.bytes / Math.max(1, traffic.sequences);
  logger.info(
    `stage 1: ${formatCount(sequencesDone)} sequences, ${formatCount(tokensDone)} tokens${passes}, ${formatDuration(seconds)} (${formatCount(tokensStreamed / Math.max(seconds, 1e-9))} tokens/s through the subject; ${formatCount(deviceBytesPerSequence)} bytes per sequence from the subject) -> ${join(outDir, EXEMPLARS_DIR)}`,
  );
  return {
    outDir,
    manifest,
    end: lastEnd!,
    sequences: sequencesDone,
    tokens: tokensDone,
    seconds,
    groups,
    resumed: Boolean(checkpoint),
    deviceBytesPerSequence,
  };
}

/**
 * One pass of the corpus through the subject for one layer group: batches per split, each forward sent before the
 * previous batch is merged, checkpoints every `checkpointSeconds` (or more rarely, see `spacing`). Returns the
 * pass's sequences and tokens.
 */
async function streamPass(pass: {
  input: ExemplarStageInput;
  collector: ExemplarCollector;
  stream: CorpusStream;
  group: number;
  resume: CheckpointInfo | undefined;
  onProgress(sequences: number, tokens: number): void;
  checkpoint(position: Omit<CheckpointInfo, 'format' | 'configHash' | 'shard' | 'group'>): void;
}): Promise<{ sequences: number; tokens: number }> {
  const { input, collector, stream, resume } = pass;
  const { subject, settings } = input;
  const buffers = new Map<string, CorpusSequence[]>();
  // Sequences past the resume point that the killed run had applied already: the stream passes them again.
  const skip = new Set(resume?.appliedAbove ?? []);
  const applied: number[] = [...(resume?.appliedAbove ?? [])];
  let sequences = resume?.sequencesDone ?? 0;
  let tokens = resume?.tokensDone ?? 0;
  let nextId = resume?.resumeFrom ?? 0;

  // Pipelining: `pending` is the forward of the batch sent last, applied after the next one is sent.
  let pending: { split: string; rows: CorpusSequence[]; result: Promise<BatchResult> } | undefined;
  let lastCheckpoint = Date.now();
  // A checkpoint of a large state takes minutes (the state is written whole): after one that took over a second,
  // the next waits at least nine times as long as it took, so that checkpoints take at most a tenth of the run.
  let spacing = settings.checkpointSeconds * 1000;
  const applyPending = async () => {
    if (!pending) return;
    const { split, rows, result } = pending;
    pending = undefined;
    const { gated, random } = await result;
    await collector.apply(split, rows, gated, random);
    for (const row of rows) {
      sequences++;
      tokens += row.length;
    }
    pass.onProgress(sequences, tokens);
    input.onBatch?.(sequences);
  };
  const send = async (split: string, rows: CorpusSequence[]) => {
    const result = runForward(subject, collector, split, rows, settings.seqLen);
    result.catch(() => undefined); // observed when applied; avoids an unhandled rejection while the previous batch applies
    await applyPending();
    pending = { split, rows, result };
  };
  const checkpointNow = async () => {
    await applyPending();
    const buffered = [...buffers.values()].flatMap((rows) => rows.map((r) => r.sequenceId));
    const resumeFrom = buffered.length ? Math.min(...buffered) : nextId;
    const above = applied.filter((id) => id >= resumeFrom).sort((a, b) => a - b);
    applied.splice(0, applied.length, ...above);
    const began = Date.now();
    pass.checkpoint({ resumeFrom, appliedAbove: above, sequencesDone: sequences, tokensDone: tokens });
    lastCheckpoint = Date.now();
    const took = lastCheckpoint - began;
    spacing = Math.max(settings.checkpointSeconds * 1000, took > 1000 ? 9 * took : 0);
  };

  // A split's first sequences enter every feature's lists, so all their per-token values leave the subject: for
  // Llama-3.1-8B, 2.8 GB per layer for a batch of 512. Until a split has taken k sequences its batches are k rows,
  // which bounds that first transfer to what the lists will hold anyway.
  const batchLimit = (split: string) =>
    collector.sequencesSeen(split) < settings.topK ? Math.min(settings.batchSize, settings.topK) : settings.batchSize;
  for await (const sequence of untilAborted(stream.sequences(), input.signal)) {
    nextId = sequence.sequenceId + 1;
    if (skip.has(sequence.sequenceId)) continue;
    let buffer = buffers.get(sequence.split);
    if (!buffer) buffers.set(sequence.split, (buffer = []));
    buffer.push(sequence);
    if (buffer.length >= batchLimit(sequence.split)) {
      const rows = buffer.splice(0);
      applied.push(...rows.map((r) => r.sequenceId));
      await send(sequence.split, rows);
    }
    if (Date.now() - lastCheckpoint >= spacing) await checkpointNow();
  }
  if (input.signal?.aborted) {
    // SIGTERM or SIGINT (engine/interrupts.ts): save what this pass has, as a periodic checkpoint would, and stop.
    await checkpointNow();
    throw stoppedError(input.signal, `stage 1 checkpoint written to ${checkpointFolder(input.outDir)}`);
  }
  for (const [split, buffer] of buffers) if (buffer.length) await send(split, buffer.splice(0));
  await applyPending();
  return { sequences, tokens };
}

interface BatchResult {
  readonly gated: ForwardResult;
  /** Full per-token values of the rows the random sequences may take, per layer of the group. */
  readonly random?: { readonly rows: number[]; readonly result: ForwardResult };
}

/** The forward passes of one batch: gated reductions on every layer, and full values of the random rows. */
async function runForward(
  subject: SubjectModel,
  collector: ExemplarCollector,
  split: string,
  rows: readonly CorpusSequence[],
  seqLen: number,
): Promise<BatchResult> {
  const tokens = new Int32Array(rows.length * seqLen);
  rows.forEach((row, b) => {
    tokens.set(row.tokens, b * seqLen);
  });
  const gated = subject.forward({
    tokens,
    batch: rows.length,
    seqLen,
    lengths: Int32Array.from(rows, (r) => r.length),
    countFrom: Int32Array.from(rows, (r) => r.rankFrom),
    hooks: collector.hooks(split, rows),
  });
  const admitted = collector.randomRows(split, rows);
  if (admitted.length === 0) return { gated: await gated };
  const randomTokens = new Int32Array(admitted.length * seqLen);
  admitted.forEach((b, i) => {
    randomTokens.set(rows[b]!.tokens, i * seqLen);
  });
  const full = subject.forward({
    tokens: randomTokens,
    batch: admitted.length,
    seqLen,
    lengths: Int32Array.from(admitted, (b) => rows[b]!.length),
    hooks: collector.randomHooks(split),
  });
  return { gated: await gated, random: { rows: admitted, result: await full } };
}

/** The stream's items until `signal` aborts; the stream's own abort error ends the loop instead of escaping it. */
async function* untilAborted<T>(items: AsyncIterable<T>, signal: AbortSignal | undefined): AsyncGenerator<T> {
  try {
    for await (const item of items) {
      yield item;
      if (signal?.aborted) return;
    }
  } catch (error) {
    if (!signal?.aborted) throw error;
  }
}
