import { join } from 'node:path';
import {
  ExpgenError,
  type Describer,
  formatFeatureKey,
  type FeatureKey,
  type Logger,
  type Sign,
  type Tokenizer,
} from '@expgen/contract';
import type { ExpgenConfig } from '../config/config-schema.js';
import { writeFileAtomic } from '@expgen/plugin-kit';
import { letSignalsIn } from '../engine/interrupts.js';
import { Journal } from '../engine/journal.js';
import { startProgress, type ProgressSetting } from '../engine/progress.js';
import { recordsToArrow, type RecordColumn } from '../engine/records-arrow.js';
import type { ExemplarLibrary } from '../exemplars/exemplar-library.js';
import { describedKey, type DescribedFeature } from './described-feature.js';
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
  /** Work items described at once; describers behind HTTP servers want many, local ones serialize anyway. */
  readonly concurrency?: number;
}

export interface DescribeEstimate {
  readonly featureSigns: number;
  readonly skipped: number;
  readonly alreadyDescribed: number;
  readonly calls: number;
  readonly cachedCalls: number;
  readonly promptTokens: number;
  readonly maxCompletionTokens: number;
}

const CANDIDATE_COLUMNS: readonly RecordColumn[] = [
  { name: 'feature', type: 'utf8' },
  { name: 'sign', type: 'utf8' },
  { name: 'status', type: 'utf8' },
  { name: 'reason', type: 'utf8' },
  { name: 'descriptions', type: 'utf8-list' },
  { name: 'seeds', type: 'json' },
  { name: 'failures', type: 'json' },
  { name: 'exemplarRanks', type: 'json' },
  { name: 'threshold', type: 'float64' },
  { name: 'thresholdRule', type: 'utf8' },
  { name: 'describedBy', type: 'json' },
  { name: 'usage', type: 'json' },
];

/**
 * Stage 2: per feature and sign, an explainer prompt from the train split's top exemplars and `candidates`
 * descriptions from the describer. Each finished item is journaled (`descriptions/journal.jsonl`), so a killed run
 * resumes without repeating or duplicating one; the describer's own cache means a rerun repeats no model call.
 * A sign the feature never reaches is recorded as skipped; a feature whose every candidate failed is recorded as
 * failed with the reasons — never given placeholder text.
 */
export async function runDescribeStage(input: DescribeStageInput): Promise<DescribedFeature[]> {
  const { library, describer, tokenizer, settings, logger } = input;
  const template = await loadPromptTemplate(settings.promptTemplate, { baseDir: input.baseDir });
  const journal = Journal.open<DescribedFeature>(join(input.outDir, 'descriptions', 'journal.jsonl'), (e) => e.key);
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
        if (!journal.has(item.key)) journal.append(await describeOne(item.feature, item.sign));
      } catch (error) {
        failure ??= { error };
        return;
      }
      progress?.update(++done);
    }
  };
  const describeOne = async (feature: FeatureKey, sign: Sign): Promise<DescribedFeature> => {
    const key = formatFeatureKey(feature);
    const base = {
      key: describedKey(key, sign),
      feature: key,
      sign,
      candidates: [],
      failures: [],
      exemplarRanks: [],
      threshold: null,
      thresholdRule: null,
      describedBy: null,
      usage: null,
    };
    const prompt = await promptFor(library, feature, sign, tokenizer, settings, template);
    if (prompt.kind === 'skipped') return { ...base, status: 'skipped', reason: prompt.detail };
    const result = await describer.describe(
      describeRequestOf(prompt, { count: settings.candidates, seed: settings.seed }),
    );
    const described = {
      ...base,
      candidates: result.candidates.map((c) => ({ description: c.description, seed: c.seed })),
      failures: result.failures,
      exemplarRanks: prompt.ranks,
      threshold: prompt.threshold,
      thresholdRule: prompt.thresholdChoice.rule,
      describedBy: result.candidates[0]?.describedBy ?? describer.provenance,
      usage: result.usage ?? null,
    };
    if (result.candidates.length === 0) {
      const reasons = [...new Set(result.failures.map((f) => f.reason))].join(', ');
      return { ...described, status: 'failed', reason: `every candidate failed (${reasons || 'no answer'})` };
    }
    return { ...described, status: 'described', reason: null };
  };
  await Promise.allSettled(Array.from({ length: Math.max(1, input.concurrency ?? 8) }, work));
  journal.close();
  if (failure) throw failure.error;
  progress?.finish();

  const described = items.map((item) => journal.entries.get(item.key)!);
  writeCandidates(input.outDir, described);
  const failed = described.filter((d) => d.status === 'failed').length;
  const failures = described.reduce((n, d) => n + d.failures.length, 0);
  logger.info(
    `stage 2: ${described.filter((d) => d.status === 'described').length} described, ${failed} failed, ${described.filter((d) => d.status === 'skipped').length} skipped; ${failures} candidate failure(s) reported`,
  );
  return described;
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
  const done = Journal.read<DescribedFeature>(join(input.outDir, 'descriptions', 'journal.jsonl'), (e) => e.key);
  const total = {
    featureSigns: 0,
    skipped: 0,
    alreadyDescribed: 0,
    calls: 0,
    cachedCalls: 0,
    promptTokens: 0,
    maxCompletionTokens: 0,
  };
  for (const item of workItems(input.features, input.signs)) {
    total.featureSigns++;
    if (done.has(item.key)) {
      total.alreadyDescribed++;
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
    total.cachedCalls += estimate.cachedCalls;
    total.promptTokens += estimate.promptTokens;
    total.maxCompletionTokens += estimate.maxCompletionTokens;
  }
  return total;
}

/** `descriptions/candidates.jsonl` and `.arrow`, in the order given (the work items': feature keys, then sign). */
export function writeCandidates(outDir: string, described: readonly DescribedFeature[]): void {
  const rows = described.map((d) => ({
    ...d,
    descriptions: d.candidates.map((c) => c.description),
    seeds: d.candidates.map((c) => c.seed),
  }));
  writeFileAtomic(
    join(outDir, 'descriptions', 'candidates.jsonl'),
    described.map((d) => JSON.stringify(d)).join('\n') + (described.length ? '\n' : ''),
  );
  writeFileAtomic(
    join(outDir, 'descriptions', 'candidates.arrow'),
    recordsToArrow(CANDIDATE_COLUMNS, rows as unknown as Record<string, unknown>[]),
  );
}
