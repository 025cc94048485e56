import type { JudgeRequest, JudgeResult, JudgeScorer, Judgment, Provenance, Tokenizer } from '@expgen/contract';
import { binaryCounts, binaryStatistics, type ChatTemplate } from '@expgen/plugin-kit';
import { addUsage, noUsage, type JudgeEngine, type JudgeUsage } from './judge-engine.js';
import { excerptText, judgeMessages, parseJudgeAnswer } from './judge-prompt.js';
import type { SharedOptions } from './options.js';
import type { ShownSequence } from './sequence-draw.js';

/** What makes a judge scorer one task: which sequences it shows, and how they are marked. */
export interface JudgeTask {
  readonly name: 'detection' | 'fuzzing';
  draw(request: JudgeRequest): ShownSequence[];
}

/** One prompt's verdicts: an answer per sequence (null where none could be had), and why, when they are missing. */
interface BatchOutcome {
  readonly answers: readonly (boolean | null)[];
  readonly failure: string | null;
  readonly usage: JudgeUsage;
}

/**
 * A scorer that shows a judge model the description and batches of the feature's sequences drawn by its task, and
 * compares the answers with the truth. Its value is the balanced accuracy of the answered judgments: the mean of
 * the share of true sequences said true and of false ones said false, 0.5 for a judge that guesses whatever the
 * mix, 1 for one that is always right.
 *
 * Honest with the judge: an answer that cannot be read (no list, a list of another length, a value that is not 1
 * or 0) is asked for again with another seed at `retryTemperature`, up to `maxRetries` times; after that every
 * sequence of the prompt is a failure (answer null) with a line saying why, never a guess. With `samples` > 1 each
 * prompt's answers are one request with `n`, and each sequence goes to the majority of the readable answers (a
 * tie is a failure). A request that failed after the client's retries fails its prompt the same way.
 */
export function createJudgeScorer(settings: {
  readonly task: JudgeTask;
  readonly options: SharedOptions;
  readonly engine: JudgeEngine;
  readonly tokenizer: Tokenizer;
  readonly template: ChatTemplate;
  readonly provenance: Provenance;
}): JudgeScorer {
  const { task, options, engine, tokenizer, template } = settings;
  const provenance: Provenance = {
    ...settings.provenance,
    settings: {
      ...settings.provenance.settings,
      ...engine.settings,
      temperature: options.judge.temperature,
      retryTemperature: options.judge.retryTemperature,
      batchSize: options.batchSize,
      samples: options.samples,
      maxRetries: options.maxRetries,
      activeFraction: options.activeFraction,
      quantiles: options.quantiles,
      template: template.source,
    },
  };

  async function askBatch(
    request: JudgeRequest,
    batch: readonly ShownSequence[],
    number: number,
  ): Promise<BatchOutcome> {
    const usage = noUsage();
    const messages = judgeMessages(
      template,
      request.description,
      batch.map((shown) => excerptText(shown, request, tokenizer)),
      tokenizer,
    );
    const reasons: string[] = [];
    for (let attempt = 0; attempt <= options.maxRetries; attempt++) {
      const answer = await engine.ask(messages, {
        seed: request.seed + attempt,
        temperature: attempt === 0 ? options.judge.temperature : options.judge.retryTemperature,
        samples: options.samples,
      });
      addUsage(usage, answer.usage);
      if (!answer.ok) {
        // The client already retried the transport; the request itself cannot be had.
        return { answers: batch.map(() => null), failure: `prompt ${number + 1}: ${answer.error}`, usage };
      }
      const readable: (readonly boolean[])[] = [];
      for (const text of answer.texts) {
        const parsed = parseJudgeAnswer(text, batch.length);
        if (parsed.ok) readable.push(parsed.answers);
        else reasons.push(parsed.reason);
      }
      if (readable.length === 0) continue;
      let ties = 0;
      const answers = batch.map((_, i) => {
        const yes = readable.filter((a) => a[i]).length;
        const no = readable.length - yes;
        if (yes === no) ties++;
        return yes === no ? null : yes > no;
      });
      return {
        answers,
        failure: ties
          ? `prompt ${number + 1}: ${ties} sequence(s) had as many answers 1 as 0 over ${readable.length} readable samples`
          : null,
        usage,
      };
    }
    const tries = options.maxRetries + 1;
    return {
      answers: batch.map(() => null),
      failure: `prompt ${number + 1}: no readable answer in ${tries} request${tries === 1 ? '' : 's'} (${reasons.join('; ')})`,
      usage,
    };
  }

  return {
    method: 'judge',
    provenance,
    async judge(request: JudgeRequest): Promise<JudgeResult> {
      // A mismarked sequence that reads exactly as the right marking would is no test of the judge: left out.
      const shown = task
        .draw(request)
        .filter(
          (s) =>
            !s.rightMarks ||
            excerptText(s, request, tokenizer) !== excerptText({ ...s, marks: s.rightMarks }, request, tokenizer),
        );
      const batches: ShownSequence[][] = [];
      for (let i = 0; i < shown.length; i += options.batchSize) batches.push(shown.slice(i, i + options.batchSize));
      // Every prompt of the feature-sign at once: the engine's concurrency bounds what is in flight.
      const settled = await Promise.allSettled(batches.map((batch, b) => askBatch(request, batch, b)));
      const stop = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (stop) throw stop.reason;
      const outcomes = settled.map((s) => (s as PromiseFulfilledResult<BatchOutcome>).value);
      const usage = noUsage();
      const judgments: Judgment[] = [];
      const failures: string[] = [];
      outcomes.forEach((outcome, b) => {
        addUsage(usage, outcome.usage);
        if (outcome.failure) failures.push(outcome.failure);
        batches[b]!.forEach((s, i) => {
          judgments.push({ list: s.list, index: s.index, group: s.group, truth: s.truth, answer: outcome.answers[i]! });
        });
      });
      return { judgments, failures, stats: statisticsOf(judgments), usage, judgedBy: provenance };
    },
    valueOfJudgments: balancedAccuracyOf,
  };
}

/** The headline value: balanced accuracy of the answered judgments; null without both truths among them. */
export function balancedAccuracyOf(judgments: readonly Judgment[]): number | null {
  return binaryStatistics(binaryCounts(answered(judgments))).balancedAccuracy;
}

function answered(judgments: readonly Judgment[]): { truth: boolean; answer: boolean }[] {
  return judgments.flatMap((j) => (j.answer === null ? [] : [{ truth: j.truth, answer: j.answer }]));
}

/** Accuracy, precision, recall, specificity, F1 and counts, and the accuracy within each group drawn. */
function statisticsOf(judgments: readonly Judgment[]): Record<string, number | null> {
  const all = binaryStatistics(binaryCounts(answered(judgments)));
  const stats: Record<string, number | null> = {
    balanced_accuracy: all.balancedAccuracy,
    accuracy: all.accuracy,
    precision: all.precision,
    recall: all.recall,
    specificity: all.specificity,
    f1: all.f1,
    true_positives: all.truePositives,
    false_positives: all.falsePositives,
    true_negatives: all.trueNegatives,
    false_negatives: all.falseNegatives,
    failures: judgments.filter((j) => j.answer === null).length,
  };
  const groups = [...new Set(judgments.map((j) => j.group))].sort();
  for (const group of groups) {
    const inGroup = answered(judgments.filter((j) => j.group === group));
    stats[`accuracy_${group}`] = inGroup.length
      ? inGroup.filter((j) => j.truth === j.answer).length / inGroup.length
      : null;
  }
  return stats;
}
