import { join } from 'node:path';
import {
  type ChatMessage,
  type DescribeResult,
  ExpgenError,
  type Describer,
  formatFeatureKey,
  type FeatureKey,
  type Logger,
  parseFeatureKey,
  type Sign,
  type Tokenizer,
} from '@expgen/contract';
import type { ExpgenConfig } from '../config/config-schema.js';
import { writeFileAtomic } from '@expgen/plugin-kit';
import { letSignalsIn } from '../engine/interrupts.js';
import {
  accumulateCost,
  checkedCost,
  WallClockShares,
  writeStageCost,
  zeroCost,
  type StageCost,
} from '../cost/stage-cost.js';
import { Journal } from '../engine/journal.js';
import { startProgress, type ProgressSetting } from '../engine/progress.js';
import { arrowMetadata, PROVENANCE_FIELDS, provenanceRecord } from '../engine/output-records.js';
import { recordsToArrow, type RecordColumn } from '../engine/records-arrow.js';
import type { ExemplarLibrary } from '../exemplars/exemplar-library.js';
import { describedKey, readDescribedLine, usageRecord, type DescribedFeature } from './described-feature.js';
import { buildDescribePrompt, describeRequestOf, loadPromptTemplate, type PromptTemplate } from './prompts/index.js';

export interface DescribeStageInput {
  readonly library: ExemplarLibrary;
  readonly features: readonly FeatureKey[];
  readonly signs: readonly Sign[];
  readonly describer: Describer;
  readonly tokenizer: Tokenizer;
  readonly settings: ExpgenConfig['describe'];
  /** Folder relative template paths start at (the config file's). */
  readonly baseDir: string;
  readonly outDir: string;
  readonly logger: Logger;
  readonly progress?: ProgressSetting;
  /** Work items described at once (default `settings.concurrency`); HTTP describers want many, local ones queue. */
  readonly concurrency?: number;
  /** Date for chat templates that print today's, when prompt tokens are counted here (`exemplars.chatDate`). */
  readonly chatDate?: string;
}

/**
 * A journal line: the journal key (`{feature}:{sign}`), the item, and what describing it cost (absent in journals
 * of earlier versions).
 */
export type JournaledDescription = DescribedFeature & { readonly key: string; readonly cost?: Partial<StageCost> };

/** Reads a describe journal's line, upgrading one an earlier version wrote (`readDescribedLine`). */
export const upgradeJournaledDescription = (line: Record<string, unknown>): JournaledDescription =>
  readDescribedLine<JournaledDescription>(line);

/** What `--dry-run` finds stage 2 would send (printed as `estimate` by `expgen describe --dry-run --json`). */
export interface DescribeEstimate {
  readonly feature_signs: number;
  readonly skipped: number;
  readonly already_described: number;
  readonly calls: number;
  readonly cached_calls: number;
  readonly prompt_tokens: number;
  readonly max_completion_tokens: number;
}

/** `expgen.format` of `candidates.arrow` (2: snake_case names, typed nested columns). */
export const CANDIDATES_FORMAT = 'expgen-candidates/2';

/** The columns of `descriptions/candidates.arrow`, which are also the keys of each `candidates.jsonl` line. */
export const CANDIDATE_COLUMNS: readonly RecordColumn[] = [
  { name: 'feature', type: 'utf8' },
  { name: 'space', type: 'utf8' },
  { name: 'layer', type: 'int32' },
  { name: 'index', type: 'int32' },
  { name: 'sign', type: 'utf8' },
  { name: 'status', type: 'utf8' },
  { name: 'reason', type: 'utf8' },
  {
    name: 'candidates',
    type: {
      list: {
        struct: [
          { name: 'description', type: 'utf8' },
          { name: 'seed', type: 'int64' },
        ],
      },
    },
  },
  {
    name: 'failures',
    type: {
      list: {
        struct: [
          { name: 'seed', type: 'int64' },
          { name: 'reason', type: 'utf8' },
          { name: 'detail', type: 'utf8' },
        ],
      },
    },
  },
  { name: 'exemplar_ranks', type: { list: 'int32' } },
  { name: 'threshold', type: 'float64' },
  { name: 'threshold_rule', type: 'utf8' },
  { name: 'described_by', type: { struct: PROVENANCE_FIELDS } },
  {
    name: 'usage',
    type: {
      struct: [
        { name: 'calls', type: 'int64' },
        { name: 'prompt_tokens', type: 'int64' },
        { name: 'completion_tokens', type: 'int64' },
        { name: 'cached_prompt_tokens', type: 'int64' },
        { name: 'cached_calls', type: 'int64' },
      ],
    },
  },
];

/**
 * Stage 2: per feature and sign, an explainer prompt from the train split's top exemplars and `candidates`
 * descriptions from the describer. Each finished item is journaled (`descriptions/journal.jsonl`), so a killed run
 * resumes without repeating or duplicating one; the describer's own cache means a rerun repeats no model call.
 * A sign the feature never reaches is recorded as skipped; a feature whose every candidate failed is recorded as
 * failed with the reasons — never given placeholder text. What each item cost (requests, tokens, host seconds) is
 * journaled with it and summed into `descriptions/cost.json`.
 */
export async function runDescribeStage(input: DescribeStageInput): Promise<DescribedFeature[]> {
  const { library, describer, tokenizer, settings, logger } = input;
  const clock = new WallClockShares();
  const template = await loadPromptTemplate(settings.promptTemplate, { baseDir: input.baseDir });
  const journal = Journal.open<JournaledDescription>(
    join(input.outDir, 'descriptions', 'journal.jsonl'),
    (e) => e.key,
    {
      upgrade: upgradeJournaledDescription,
    },
  );
  const items = workItems(input.features, input.signs);
  const progress = startProgress(input.progress, { label: 'describing', total: items.length, unit: 'feature-signs' });
  let done = 0;
  let next = 0;
  // The first failure stops every worker from taking new items; the journal is closed only after all have settled,
  // so an answer already paid for is still recorded and nothing writes to a closed file.
  let failure: { error: unknown } | undefined;
  const work = async () => {
    while (next < items.length && !failure) {
      await letSignalsIn();
      if (next >= items.length || failure) return;
      const item = items[next++]!;
      try {
        if (!journal.has(item.key)) {
          const { described, cost } = await describeOne(item.feature, item.sign);
          journal.append({ ...described, cost: { ...cost, host_seconds: clock.take() } });
        }
      } catch (error) {
        failure ??= { error };
        return;
      }
      progress?.update(++done);
    }
  };
  const describeOne = async (
    feature: FeatureKey,
    sign: Sign,
  ): Promise<{ described: DescribedFeature & { key: string }; cost: Partial<StageCost> }> => {
    const key = formatFeatureKey(feature);
    const base = {
      key: describedKey(key, sign),
      feature: key,
      sign,
      candidates: [],
      failures: [],
      exemplar_ranks: [],
      threshold: null,
      threshold_rule: null,
      described_by: null,
      usage: null,
    };
    const prompt = await promptFor(library, feature, sign, tokenizer, settings, template);
    if (prompt.kind === 'skipped')
      return { described: { ...base, status: 'skipped', reason: prompt.detail }, cost: { feature_signs: 1 } };
    const result = await describer.describe(
      describeRequestOf(prompt, { count: settings.candidates, seed: settings.seed }),
    );
    const cost = describeCost(result, prompt.messages, tokenizer, input.chatDate);
    const described = {
      ...base,
      candidates: result.candidates.map((c) => ({ description: c.description, seed: c.seed })),
      failures: result.failures,
      exemplar_ranks: prompt.ranks,
      threshold: prompt.threshold,
      threshold_rule: prompt.thresholdChoice.rule,
      described_by: provenanceRecord(result.candidates[0]?.describedBy ?? describer.provenance),
      usage: result.usage ? usageRecord(result.usage) : null,
    };
    if (result.candidates.length === 0) {
      const reasons = [...new Set(result.failures.map((f) => f.reason))].join(', ');
      return {
        described: { ...described, status: 'failed', reason: `every candidate failed (${reasons || 'no answer'})` },
        cost,
      };
    }
    return { described: { ...described, status: 'described', reason: null }, cost };
  };
  const setup = clock.take();
  await Promise.allSettled(Array.from({ length: Math.max(1, input.concurrency ?? settings.concurrency) }, work));
  journal.close();
  if (failure) throw failure.error;
  progress?.finish();

  const entries = items.map((item) => journal.entries.get(item.key)!);
  const described = entries.map(withoutCost);
  writeCandidates(input.outDir, described);
  const cost = zeroCost();
  for (const entry of entries)
    accumulateCost(cost, entry.cost ? checkedCost(entry.cost, `${journal.path}: ${entry.key}`) : { feature_signs: 1 });
  accumulateCost(cost, { host_seconds: setup + clock.take() });
  writeStageCost(input.outDir, 'describe', cost);
  const failed = described.filter((d) => d.status === 'failed').length;
  const failures = described.reduce((n, d) => n + d.failures.length, 0);
  logger.info(
    `stage 2: ${described.filter((d) => d.status === 'described').length} described, ${failed} failed, ${described.filter((d) => d.status === 'skipped').length} skipped; ${failures} candidate failure(s) reported`,
  );
  return described;
}

/** A journal line without its key and cost: the item as `candidates.jsonl` and stage 3 see it. */
export function withoutCost(entry: JournaledDescription): DescribedFeature {
  const { cost: _cost, key: _key, ...described } = entry;
  return described;
}

/**
 * What one describe call cost. The describer's own `usage` where it reports one; otherwise one request whose
 * prompt is the rendered conversation and whose completions are the candidates, counted with the subject's
 * tokenizer (the explainer shares it, or its count is close).
 */
function describeCost(
  result: DescribeResult,
  messages: readonly ChatMessage[],
  tokenizer: Tokenizer,
  date: string | undefined,
): Partial<StageCost> {
  const usage = result.usage;
  if (usage)
    return {
      feature_signs: 1,
      explainer_requests: usage.calls,
      prompt_tokens: usage.promptTokens,
      cached_prompt_tokens: usage.cachedPromptTokens ?? 0,
      completion_tokens: usage.completionTokens,
      cached_calls: usage.cachedCalls ?? 0,
    };
  let completion = 0;
  for (const c of result.candidates) completion += tokenizer.encode(c.description).length;
  return {
    feature_signs: 1,
    explainer_requests: 1,
    prompt_tokens: tokenizer.encodeChat(messages, { addGenerationPrompt: true, ...(date ? { date } : {}) }).length,
    completion_tokens: completion,
  };
}

function workItems(features: readonly FeatureKey[], signs: readonly Sign[]) {
  return features.flatMap((feature) =>
    signs.map((sign) => ({ feature, sign, key: describedKey(formatFeatureKey(feature), sign) })),
  );
}

async function promptFor(
  library: ExemplarLibrary,
  feature: FeatureKey,
  sign: Sign,
  tokenizer: Tokenizer,
  settings: ExpgenConfig['describe'],
  template: PromptTemplate,
) {
  const [exemplars, distribution] = await Promise.all([
    library.exemplars(feature, 'train'),
    library.distribution(feature, 'train'),
  ]);
  return buildDescribePrompt({
    feature,
    sign,
    rows: [...exemplars.positive, ...exemplars.negative],
    quantiles: distribution ?? { positiveQuantiles: [], negativeQuantiles: [] },
    tokenizer,
    settings,
    template,
  });
}

/**
 * `--dry-run`: the prompts stage 2 would send and what they would cost, from the describer's `estimate` (cached
 * answers are free; items already journaled are not asked again). Nothing is sent and nothing is written.
 */
export async function estimateDescribeStage(
  input: Omit<DescribeStageInput, 'progress' | 'concurrency'>,
): Promise<DescribeEstimate> {
  const { describer } = input;
  if (!describer.estimate) {
    throw new ExpgenError(
      `the describer "${describer.provenance.component}" (plugin ${describer.provenance.plugin}) cannot estimate its calls: --dry-run is for describers that call servers, such as openai-compatible`,
    );
  }
  const template = await loadPromptTemplate(input.settings.promptTemplate, { baseDir: input.baseDir });
  const done = Journal.read<JournaledDescription>(
    join(input.outDir, 'descriptions', 'journal.jsonl'),
    (e) => e.key,
    upgradeJournaledDescription,
  );
  const total = {
    feature_signs: 0,
    skipped: 0,
    already_described: 0,
    calls: 0,
    cached_calls: 0,
    prompt_tokens: 0,
    max_completion_tokens: 0,
  };
  for (const item of workItems(input.features, input.signs)) {
    total.feature_signs++;
    if (done.has(item.key)) {
      total.already_described++;
      continue;
    }
    const prompt = await promptFor(input.library, item.feature, item.sign, input.tokenizer, input.settings, template);
    if (prompt.kind === 'skipped') {
      total.skipped++;
      continue;
    }
    const estimate = await describer.estimate(
      describeRequestOf(prompt, { count: input.settings.candidates, seed: input.settings.seed }),
    );
    total.calls += estimate.calls;
    total.cached_calls += estimate.cachedCalls;
    total.prompt_tokens += estimate.promptTokens;
    total.max_completion_tokens += estimate.maxCompletionTokens;
  }
  return total;
}

/**
 * `descriptions/candidates.jsonl` and `.arrow`, in the order given (the work items': feature keys, then sign): the
 * same columns in both, the JSON lines' keys in column order, with the feature key's parts beside it as in
 * `results`.
 */
export function writeCandidates(outDir: string, described: readonly DescribedFeature[]): void {
  const rows = described.map((d) => {
    const { space, layer, index } = parseFeatureKey(d.feature);
    const line: Record<string, unknown> = { ...d, space, layer, index };
    return Object.fromEntries(CANDIDATE_COLUMNS.map((c) => [c.name, line[c.name] ?? null]));
  });
  writeFileAtomic(
    join(outDir, 'descriptions', 'candidates.jsonl'),
    rows.map((d) => JSON.stringify(d)).join('\n') + (rows.length ? '\n' : ''),
  );
  writeFileAtomic(
    join(outDir, 'descriptions', 'candidates.arrow'),
    recordsToArrow(CANDIDATE_COLUMNS, rows, arrowMetadata(CANDIDATES_FORMAT)),
  );
}
