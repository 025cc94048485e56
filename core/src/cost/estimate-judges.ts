import type { ExpgenConfig } from '../config/config-schema.js';

/** Prompt tokens of a judge prompt's own text (the shipped detection and fuzzing prompts are 330-420). */
const JUDGE_TEMPLATE_TOKENS = 400;

/** What the judge scorers of a run would send, per the whole run. */
export interface JudgeEstimate {
  readonly requests: number;
  readonly promptTokens: number;
  /** An upper bound: every answer at its `judge.maxTokens`, each of `samples` answers. */
  readonly completionTokens: number;
}

/**
 * The judge requests of the reported scorers that ask a judge model (a `scorers` entry whose options carry a
 * `judge` section, as `detection` and `fuzzing` do), from their options alone: per feature-sign, the sequences shown
 * (each count capped by what stage 1 keeps per feature), in prompts of `batchSize`, once for the chosen description
 * and once for the null baseline; none answered by the cache, and no retries (they depend on the answers).
 */
export function estimateJudges(config: ExpgenConfig, featureSigns: number, assumed: string[]): JudgeEstimate {
  const { topK, randomPerFeature, seqLen } = config.exemplars;
  const total = { requests: 0, promptTokens: 0, completionTokens: 0 };
  for (const [i, section] of config.scorers.entries()) {
    const options = section.options as Record<string, unknown> | undefined;
    const judge = options?.['judge'] as Record<string, unknown> | undefined;
    if (!options || typeof judge !== 'object' || judge === null) continue;
    const count = (key: string, cap: number) => Math.min(typeof options[key] === 'number' ? options[key] : 0, cap);
    const shown =
      count('activating', topK + randomPerFeature) +
      count('nonActivating', randomPerFeature) +
      count('hardNegatives', 2 * topK + randomPerFeature) +
      count('mismarked', topK + randomPerFeature);
    const batch = typeof options['batchSize'] === 'number' ? options['batchSize'] : 5;
    const samples = typeof options['samples'] === 'number' ? options['samples'] : 1;
    const maxTokens = typeof judge['maxTokens'] === 'number' ? judge['maxTokens'] : 512;
    const prompts = Math.ceil(shown / batch);
    const perRequest = Math.round(JUDGE_TEMPLATE_TOKENS + Math.min(batch, shown) * (seqLen * 1.1 + 6));
    const requests = 2 * prompts * featureSigns;
    total.requests += requests;
    total.promptTokens += requests * perRequest;
    total.completionTokens += requests * samples * maxTokens;
    assumed.push(
      `scorer ${section.name ?? section.component} (scorers[${i}]): ${shown} sequences per feature-sign in ${prompts} prompt(s) of about ${perRequest} tokens, for the chosen description and the null baseline; no retries, none cached; every answer at its ${maxTokens} tokens (an upper bound); the judge on one ${config.cost.gpu} at the explainer's throughputs`,
    );
  }
  return total;
}
