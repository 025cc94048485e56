import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type ActivationSource,
  type LayerPlan,
  type DatasetSource,
  ExpgenError,
  type Logger,
  type ForwardResult,
  type HookRequest,
  type SubjectModel,
  reduceOnHost,
} from '@expgen/contract';
import type { ExpgenConfig } from '../config/config-schema.js';
import { writeFileAtomic } from '@expgen/plugin-kit';
import type { FeatureSelection } from '../engine/feature-selection.js';
import { stoppedError } from '../engine/interrupts.js';
import { formatCount, formatDuration, startProgress, type Progress, type ProgressSetting } from '../engine/progress.js';
import { CorpusStream, type CorpusEnd, type CorpusSequence, type ShardSpec } from './corpus/index.js';
import { ActivationDistribution, RandomSequences, SequenceStore, TopKExemplars } from './state/index.js';
import { concatChunks } from './state/state-codec.js';
import {
  EXEMPLARS_DIR,
  SplitCountsCollector,
  buildManifest,
  readExemplarManifest,
  writeExemplarManifest,
  writeLayerSplitFiles,
  type ExemplarManifest,
  type ExemplarOutputInfo,
  type LayerSplitState,
} from './storage/index.js';

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
}

const CHECKPOINT_DIR = 'checkpoint';
const CHECKPOINT_FORMAT = 'expgen-exemplars-checkpoint/1';

/** One layer's streaming state in one split. */
interface LayerSplit {
  readonly plan: LayerPlan;
  readonly split: string;
  readonly topK: TopKExemplars;
  readonly random?: RandomSequences;
  readonly distribution: ActivationDistribution;
}

interface SplitState {
  readonly store: SequenceStore;
  readonly layers: LayerSplit[];
  readonly buffer: CorpusSequence[];
}

interface CheckpointInfo {
  readonly format: string;
  readonly configHash: string;
  readonly shard: ShardSpec;
  readonly group: number;
  /** The stream restarts here: every sequence with a smaller id was applied. */
  readonly resumeFrom: number;
  /** Sequences at or past `resumeFrom` that were applied already (drop them when the stream passes again). */
  readonly appliedAbove: readonly number[];
  readonly sequencesDone: number;
  readonly tokensDone: number;
}

/**
 * Stage 1: one streaming pass of the corpus through the subject per layer group, keeping per feature the top-k
 * and bottom-k sequences with per-token activations, the split's random sequences and the tail of the activation
 * distribution — exact, resumable after a kill at any moment, and shardable.
 *
 * The hot path: each batch of one split goes to the subject with `gated` reductions on every layer of the group,
 * fed the split's current thresholds, so only (sequence, feature) pairs that can enter a list leave the device. The
 * next batch is sent before the previous one is applied, so the inference worker runs while this thread merges;
 * thresholds one batch old are looser, never wrong (the lists only tighten). Random sequences are chosen by a hash
 * of their id, so their rows are known before the forward pass and asked for in full in a second, small pass.
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
    };
  }

  const groups = groupLayers(plans, settings, splits.length, logger);
  const checkpoint = readCheckpoint(outDir, input.configHash, shard);
  if (checkpoint)
    logger.info(
      `resuming from the checkpoint in ${join(outDir, EXEMPLARS_DIR, CHECKPOINT_DIR)}: layer group ${checkpoint.info.group + 1}, ${checkpoint.info.sequencesDone} sequences done`,
    );

  const histogram = { low: settings.histogramRange[0], high: settings.histogramRange[1], bins: settings.histogramBins };
  const counts = new SplitCountsCollector();
  let info: ExemplarOutputInfo | undefined;
  let lastEnd: CorpusEnd | undefined;
  let sequencesDone = 0;
  // Tokens streamed through the subject over every pass (for the rate); each pass reads the same corpus.
  let tokensStreamed = 0;
  let tokensDone = 0;
  const perShard = Math.ceil((settings.sequences - shard.index) / shard.count);
  const progress: Progress | undefined = startProgress(input.progress, {
    label: 'exemplars',
    total: perShard * groups.length,
    unit: 'sequences',
    rateOf: 'tokens',
  });

  for (let g = checkpoint?.info.group ?? 0; g < groups.length; g++) {
    const groupLayers = groups[g]!;
    const groupPlans = groupLayers.map((layer) => plans[layers.indexOf(layer)]!);
    const resume = checkpoint && checkpoint.info.group === g && checkpoint.buffers.size > 0 ? checkpoint : undefined;
    const states = new Map<string, SplitState>();
    for (const split of splits)
      states.set(
        split,
        resume ? restoreSplit(resume.buffers, split, groupPlans) : newSplit(split, groupPlans, settings, histogram),
      );
    const stream = new CorpusStream({
      ...settings,
      tokenizer: subject.tokenizer,
      sources: input.datasets.map((d) => ({ source: d.source, ratio: d.ratio, ...(d.name ? { name: d.name } : {}) })),
      shard,
      skipSequences: resume?.info.resumeFrom ?? 0,
      ...(input.signal ? { signal: input.signal } : {}),
    });
    // Sequences past the resume point that the killed run had applied already: the stream passes them again.
    const skip = new Set(resume?.info.appliedAbove ?? []);
    const applied: number[] = [...(resume?.info.appliedAbove ?? [])];
    let groupSequences = resume?.info.sequencesDone ?? 0;
    let groupTokens = resume?.info.tokensDone ?? 0;
    if (g > 0 || resume) logger.info(`layer group ${g + 1}/${groups.length}: layers ${groupLayers.join(', ')}`);

    // Pipelining: `pending` is the forward of the batch sent last, applied after the next one is sent.
    let pending: { split: string; rows: CorpusSequence[]; result: Promise<BatchResult> } | undefined;
    let lastCheckpoint = Date.now();
    const applyPending = async () => {
      if (!pending) return;
      const { split, rows, result } = pending;
      pending = undefined;
      apply(states.get(split)!, rows, await result, activation, hostEncode);
      for (const row of rows) {
        groupSequences++;
        groupTokens += row.length;
      }
      progress?.update(g * perShard + groupSequences, { tokens: tokensStreamed + groupTokens });
      input.onBatch?.(groupSequences);
    };
    const send = async (split: string, rows: CorpusSequence[]) => {
      const state = states.get(split)!;
      const request = forwardOf(state, rows, settings.seqLen, hostEncode);
      const result = runForward(subject, request, state, rows, settings.seqLen, hostEncode);
      result.catch(() => undefined); // observed when applied; avoids an unhandled rejection while the previous batch applies
      await applyPending();
      pending = { split, rows, result };
    };
    const checkpointNow = async () => {
      await applyPending();
      const buffered = [...states.values()].flatMap((s) => s.buffer.map((r) => r.sequenceId));
      const resumeFrom = buffered.length ? Math.min(...buffered) : nextId;
      const above = applied.filter((id) => id >= resumeFrom).sort((a, b) => a - b);
      applied.splice(0, applied.length, ...above);
      writeCheckpoint(
        outDir,
        {
          format: CHECKPOINT_FORMAT,
          configHash: input.configHash,
          shard,
          group: g,
          resumeFrom,
          appliedAbove: above,
          sequencesDone: groupSequences,
          tokensDone: groupTokens,
        },
        states,
      );
      lastCheckpoint = Date.now();
    };

    let nextId = resume?.info.resumeFrom ?? 0;
    for await (const sequence of untilAborted(stream.sequences(), input.signal)) {
      nextId = sequence.sequenceId + 1;
      if (skip.has(sequence.sequenceId)) continue;
      const state = states.get(sequence.split)!;
      state.buffer.push(sequence);
      if (state.buffer.length >= settings.batchSize) {
        const rows = state.buffer.splice(0);
        applied.push(...rows.map((r) => r.sequenceId));
        await send(sequence.split, rows);
      }
      if (Date.now() - lastCheckpoint >= settings.checkpointSeconds * 1000) await checkpointNow();
    }
    if (input.signal?.aborted) {
      // SIGTERM or SIGINT (engine/interrupts.ts): save what this pass has, as a periodic checkpoint would, and stop.
      await checkpointNow();
      throw stoppedError(input.signal, `stage 1 checkpoint written to ${join(outDir, EXEMPLARS_DIR, CHECKPOINT_DIR)}`);
    }
    for (const [split, state] of states) if (state.buffer.length) await send(split, state.buffer.splice(0));
    await applyPending();
    lastEnd = stream.end ?? undefined;

    info ??= {
      configHash: input.configHash,
      parameters: {
        seqLen: settings.seqLen,
        k: settings.topK,
        randomCount: settings.randomPerFeature,
        randomSeed: String(settings.seed),
        extremesKept: settings.extremesKept,
        histogram,
        countedFrom: settings.rankPrefix ? 0 : stream.prefixTokens.length,
      },
      datasets: stream.datasetNames,
    };
    for (const [split, state] of states) {
      for (const layerState of state.layers) {
        const key = { space: activation.space, layer: layerState.plan.layer, split };
        writeLayerSplitFiles(outDir, toStorage(key, layerState), state.store, info);
        counts.add(key, layerState.distribution);
      }
    }
    sequencesDone = groupSequences;
    tokensDone = groupTokens;
    tokensStreamed += groupTokens;
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
  const manifest = buildManifest(info!, {
    shard,
    complete: true,
    splits: counts.result(),
    layers: plans.map((p) => ({ space: activation.space, layer: p.layer, features: p.width })),
  });
  writeExemplarManifest(outDir, manifest);
  removeCheckpoints(outDir);
  const seconds = (Date.now() - started) / 1000;
  progress?.finish();
  if (lastEnd?.reason === 'source-exhausted') logger.warn(lastEnd.message);
  const passes = groups.length > 1 ? ` in ${groups.length} passes` : '';
  logger.info(
    `stage 1: ${formatCount(sequencesDone)} sequences, ${formatCount(tokensDone)} tokens${passes}, ${formatDuration(seconds)} (${formatCount(tokensStreamed / Math.max(seconds, 1e-9))} tokens/s through the subject) -> ${join(outDir, EXEMPLARS_DIR)}`,
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
  };
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

interface BatchResult {
  readonly gated: ForwardResult;
  /** Full per-token values of the rows admitted to the random sequences, per layer of the group. */
  readonly random?: { readonly rows: number[]; readonly result: ForwardResult };
}

function newSplit(
  split: string,
  plans: readonly LayerPlan[],
  settings: ExpgenConfig['exemplars'],
  histogram: { low: number; high: number; bins: number },
): SplitState {
  const store = new SequenceStore({ seqLen: settings.seqLen });
  const layers = plans.map((plan) => ({
    plan,
    split,
    topK: new TopKExemplars({ features: plan.width, k: settings.topK, seqLen: settings.seqLen, references: store }),
    ...(settings.randomPerFeature > 0
      ? {
          random: new RandomSequences({
            features: plan.width,
            seqLen: settings.seqLen,
            count: settings.randomPerFeature,
            seed: settings.seed,
            references: store,
          }),
        }
      : {}),
    distribution: new ActivationDistribution({ features: plan.width, keep: settings.extremesKept, histogram }),
  }));
  return { store, layers, buffer: [] };
}

/** The forward request of one batch: gated reductions on every layer of the group with the split's thresholds. */
function forwardOf(
  state: SplitState,
  rows: readonly CorpusSequence[],
  seqLen: number,
  hostEncode: boolean,
): { tokens: Int32Array; lengths: Int32Array; countFrom: Int32Array; hooks: HookRequest[] } {
  const tokens = new Int32Array(rows.length * seqLen);
  rows.forEach((row, b) => {
    tokens.set(row.tokens, b * seqLen);
  });
  const lengths = Int32Array.from(rows, (r) => r.length);
  const countFrom = Int32Array.from(rows, (r) => r.rankFrom);
  const hooks: HookRequest[] = state.layers.map(({ plan, topK }) =>
    hostEncode && plan.fragment
      ? { hook: plan.hook, reduce: 'full' }
      : {
          hook: plan.hook,
          reduce: 'gated',
          thresholds: topK.thresholds(),
          ...(plan.fragment ? { fragment: plan.fragment } : {}),
        },
  );
  return { tokens, lengths, countFrom, hooks };
}

async function runForward(
  subject: SubjectModel,
  request: ReturnType<typeof forwardOf>,
  state: SplitState,
  rows: readonly CorpusSequence[],
  seqLen: number,
  hostEncode: boolean,
): Promise<BatchResult> {
  const gated = subject.forward({
    tokens: request.tokens,
    batch: rows.length,
    seqLen,
    lengths: request.lengths,
    countFrom: request.countFrom,
    hooks: request.hooks,
  });
  const random = state.layers[0]!.random;
  const admitted = random ? rows.flatMap((r, b) => (random.wouldAdmit(r.sequenceId) ? [b] : [])) : [];
  if (admitted.length === 0) return { gated: await gated };
  const tokens = new Int32Array(admitted.length * seqLen);
  admitted.forEach((b, i) => {
    tokens.set(rows[b]!.tokens, i * seqLen);
  });
  const full = subject.forward({
    tokens,
    batch: admitted.length,
    seqLen,
    lengths: Int32Array.from(admitted, (b) => rows[b]!.length),
    hooks: state.layers.map(({ plan }) => ({
      hook: plan.hook,
      reduce: 'full' as const,
      ...(plan.fragment && !hostEncode ? { fragment: plan.fragment } : {}),
    })),
  });
  return { gated: await gated, random: { rows: admitted, result: await full } };
}

/** Merges one batch's results into the split's states, then stores the tokens of every sequence they now hold. */
function apply(
  state: SplitState,
  rows: readonly CorpusSequence[],
  result: BatchResult,
  activation: ActivationSource,
  hostEncode: boolean,
): void {
  const seqLen = rows[0]!.tokens.length;
  const sequenceIds = rows.map((r) => r.sequenceId);
  const lengths = Int32Array.from(rows, (r) => r.length);
  const countFrom = Int32Array.from(rows, (r) => r.rankFrom);
  let counted = 0;
  for (const r of rows) counted += Math.max(0, r.length - r.rankFrom);
  state.layers.forEach((layerState, i) => {
    const { plan, topK, random, distribution } = layerState;
    let hook = result.gated.hooks[i]!;
    if (hostEncode && plan.fragment) {
      const values = activation.encode(plan.layer, hook.full!, rows.length * seqLen);
      hook = reduceOnHost(
        values,
        { batch: rows.length, seqLen, width: plan.width, lengths, countFrom },
        { hook: plan.hook, reduce: 'gated', thresholds: topK.thresholds() },
      );
    }
    distribution.offer({ max: hook.max!, min: hook.min!, tokens: counted });
    topK.offer({ sequenceIds, max: hook.max!, min: hook.min!, gated: hook.gated!, seqLen });
    if (random && result.random) {
      const full = result.random.result.hooks[i]!;
      let values = full.full!;
      if (hostEncode && plan.fragment)
        values = activation.encode(plan.layer, values, result.random.rows.length * seqLen);
      result.random.rows.forEach((b, j) => {
        random.offer(rows[b]!.sequenceId, values.subarray(j * seqLen * plan.width, (j + 1) * seqLen * plan.width));
      });
    }
  });
  const byId = new Map(rows.map((r) => [r.sequenceId, r]));
  for (const id of state.store.missing()) {
    const row = byId.get(id);
    if (!row) continue;
    state.store.put(id, {
      tokens: row.tokens,
      length: row.length,
      datasetIndex: row.datasetIndex,
      documentId: row.documentId,
      split: row.split,
      window: row.window,
      countFrom: row.rankFrom,
    });
  }
}

/** Bytes one layer's state needs over all splits, from the state layouts (flat typed arrays). */
export function layerStateBytes(
  width: number,
  settings: Pick<ExpgenConfig['exemplars'], 'topK' | 'seqLen' | 'randomPerFeature' | 'extremesKept' | 'histogramBins'>,
  splits: number,
): number {
  const topK = 2 * width * settings.topK * (settings.seqLen * 4 + 4 + 8 + 4);
  const random = settings.randomPerFeature * settings.seqLen * width * 4;
  const distribution = 2 * width * settings.extremesKept * 4 + 2 * width * (settings.histogramBins + 2) * 8;
  // Sequences are stored once per split, at most one per list entry.
  const sequences = (2 * width * settings.topK + settings.randomPerFeature) * settings.seqLen * 4;
  return splits * (topK + random + distribution + Math.min(sequences, topK));
}

/** Splits the layers into groups that fit the memory budget; one corpus pass per group. */
function groupLayers(
  plans: readonly LayerPlan[],
  settings: ExpgenConfig['exemplars'],
  splits: number,
  logger: Logger,
): number[][] {
  const layers = plans.map((p) => p.layer);
  const bytes = plans.map((p) => layerStateBytes(p.width, settings, splits));
  const total = bytes.reduce((a, b) => a + b, 0);
  if (settings.memoryBudgetGB === null) {
    logger.info(
      `exemplar state: ${formatBytes(total)} for ${layers.length} layer(s), one pass (set exemplars.memoryBudgetGB to split passes)`,
    );
    return [layers];
  }
  const budget = settings.memoryBudgetGB * 1e9;
  const groups: number[][] = [];
  let current: number[] = [];
  let used = 0;
  plans.forEach((plan, i) => {
    if (bytes[i]! > budget) {
      throw new ExpgenError(
        `exemplars.memoryBudgetGB: layer ${plan.layer} alone needs ${formatBytes(bytes[i]!)} of state, over the budget of ${formatBytes(budget)}: raise the budget or lower topK, extremesKept or randomPerFeature`,
      );
    }
    if (used + bytes[i]! > budget && current.length) {
      groups.push(current);
      current = [];
      used = 0;
    }
    current.push(plan.layer);
    used += bytes[i]!;
  });
  if (current.length) groups.push(current);
  logger.info(
    `exemplar state: ${formatBytes(total)} for ${layers.length} layer(s); budget ${formatBytes(budget)} -> ${groups.length} pass(es) over the corpus: ${groups.map((g) => `[${g.join(', ')}]`).join(' ')}`,
  );
  return groups;
}

function formatBytes(bytes: number): string {
  return bytes >= 1e9
    ? `${(bytes / 1e9).toFixed(2)} GB`
    : bytes >= 1e6
      ? `${(bytes / 1e6).toFixed(1)} MB`
      : `${(bytes / 1e3).toFixed(1)} kB`;
}

function toStorage(key: { space: string; layer: number; split: string }, state: LayerSplit): LayerSplitState {
  return {
    ...key,
    topK: state.topK,
    ...(state.random ? { random: state.random } : {}),
    distribution: state.distribution,
  };
}

/** The manifest of a complete output made under the same config, if there is one. */
function completedOutput(outDir: string, configHash: string, shard: ShardSpec): ExemplarManifest | undefined {
  if (!existsSync(join(outDir, EXEMPLARS_DIR, 'manifest.json'))) return undefined;
  const manifest = readExemplarManifest(outDir);
  if (manifest.configHash !== configHash) {
    throw new ExpgenError(
      `${outDir} already holds exemplars made with another config (hash ${manifest.configHash.slice(0, 12)}): use another --out folder or remove it`,
    );
  }
  if (manifest.shard.index !== shard.index || manifest.shard.count !== shard.count) {
    throw new ExpgenError(
      `${outDir} holds the exemplars of shard ${manifest.shard.index}/${manifest.shard.count}, not ${shard.index}/${shard.count}: give each shard its own --out folder`,
    );
  }
  return manifest.complete ? manifest : undefined;
}

// --- checkpoints -------------------------------------------------------------------------------------------

/**
 * A checkpoint is a folder written whole under a temporary name and renamed into place, so a kill at any moment
 * leaves either the previous checkpoint or the new one. Its files are named `*.state`, never `*.arrow`.
 */
function writeCheckpoint(outDir: string, info: CheckpointInfo, states: ReadonlyMap<string, SplitState>): void {
  const root = join(outDir, EXEMPLARS_DIR);
  const final = join(root, CHECKPOINT_DIR);
  const temporary = join(root, `${CHECKPOINT_DIR}.tmp-${process.pid}`);
  rmSync(temporary, { recursive: true, force: true });
  mkdirSync(temporary, { recursive: true });
  for (const [split, state] of states) {
    writeFileSync(join(temporary, `${split}.sequences.state`), concatChunks(state.store.toBuffers()));
    for (const layerState of state.layers) {
      const base = join(temporary, `${split}.layer-${layerState.plan.layer}`);
      writeFileSync(`${base}.top-k.state`, concatChunks(layerState.topK.toBuffers()));
      writeFileSync(`${base}.distribution.state`, concatChunks(layerState.distribution.toBuffers()));
      if (layerState.random) writeFileSync(`${base}.random.state`, concatChunks(layerState.random.toBuffers()));
    }
  }
  writeFileAtomic(join(temporary, 'checkpoint.json'), `${JSON.stringify(info, null, 2)}\n`);
  const previous = join(root, `${CHECKPOINT_DIR}.old-${process.pid}`);
  if (existsSync(final)) renameSync(final, previous);
  renameSync(temporary, final);
  rmSync(previous, { recursive: true, force: true });
}

/** Removes the checkpoint and what killed runs left of theirs (`checkpoint.tmp-<pid>`, `checkpoint.old-<pid>`). */
function removeCheckpoints(outDir: string): void {
  const root = join(outDir, EXEMPLARS_DIR);
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) {
    if (name === CHECKPOINT_DIR || name.startsWith(`${CHECKPOINT_DIR}.`))
      rmSync(join(root, name), { recursive: true, force: true });
  }
}

function readCheckpoint(
  outDir: string,
  configHash: string,
  shard: ShardSpec,
): { info: CheckpointInfo; buffers: ReadonlyMap<string, Uint8Array> } | undefined {
  const root = join(outDir, EXEMPLARS_DIR);
  // A kill between the two renames leaves only the `.old-*` folder: it is the latest complete checkpoint.
  let folder = join(root, CHECKPOINT_DIR);
  if (!existsSync(folder) && existsSync(root)) {
    // Two kills between renames leave two: the newest is the latest checkpoint.
    const old = readdirSync(root)
      .filter((name) => name.startsWith(`${CHECKPOINT_DIR}.old-`))
      .map((name) => join(root, name))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    if (old) folder = old;
  }
  if (!existsSync(join(folder, 'checkpoint.json'))) return undefined;
  let info: CheckpointInfo;
  try {
    info = JSON.parse(readFileSync(join(folder, 'checkpoint.json'), 'utf8')) as CheckpointInfo;
  } catch {
    throw new ExpgenError(`${join(folder, 'checkpoint.json')} is damaged: remove ${folder} to start stage 1 over`);
  }
  if (info.format !== CHECKPOINT_FORMAT)
    throw new ExpgenError(
      `${folder}: checkpoint format ${info.format} is not ${CHECKPOINT_FORMAT}: remove the folder to start over`,
    );
  if (info.configHash !== configHash) {
    throw new ExpgenError(
      `${outDir} holds a checkpoint of a run with another config: use another --out folder, or remove ${folder} to start over`,
    );
  }
  if (info.shard.index !== shard.index || info.shard.count !== shard.count) {
    throw new ExpgenError(
      `${outDir} holds a checkpoint of shard ${info.shard.index}/${info.shard.count}, not ${shard.index}/${shard.count}: give each shard its own --out folder`,
    );
  }
  const buffers = new Map<string, Uint8Array>();
  for (const name of readdirSync(folder))
    if (name.endsWith('.state')) buffers.set(name, readFileSync(join(folder, name)));
  return { info, buffers };
}

function restoreSplit(
  buffers: ReadonlyMap<string, Uint8Array>,
  split: string,
  plans: readonly LayerPlan[],
): SplitState {
  const need = (name: string) => {
    const buffer = buffers.get(name);
    if (!buffer)
      throw new ExpgenError(`the checkpoint lacks ${name}: it is damaged; remove the checkpoint folder to start over`);
    return buffer;
  };
  const store = SequenceStore.fromBuffers(need(`${split}.sequences.state`));
  const layers = plans.map((plan) => {
    const base = `${split}.layer-${plan.layer}`;
    const random = buffers.get(`${base}.random.state`);
    return {
      plan,
      split,
      topK: TopKExemplars.fromBuffers(need(`${base}.top-k.state`), { references: store }),
      ...(random ? { random: RandomSequences.fromBuffers(random, { references: store }) } : {}),
      distribution: ActivationDistribution.fromBuffers(need(`${base}.distribution.state`)),
    };
  });
  return { store, layers, buffer: [] };
}
