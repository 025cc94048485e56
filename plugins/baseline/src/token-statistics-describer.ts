import {
  signedActivation,
  type ComponentContext,
  type DescribeRequest,
  type DescribeResult,
  type Describer,
  type DescriptionCandidate,
  type Tokenizer,
} from '@expgen/contract';

export interface TokenStatisticsOptions {
  /** Most tokens a description names. */
  maxTokens: number;
}

interface TokenStat {
  text: string;
  marked: number;
  seen: number;
  activationSum: number;
}

/**
 * A describer without a language model: it names the tokens on which the feature fires most reliably in the
 * prompt's exemplars (marked count x precision). It is the embedded default's describer and a null baseline a
 * real explainer must beat. Candidate i names the top 1 + (i mod maxTokens) tokens, so candidates differ
 * deterministically and best-of-k selection has something to choose from.
 */
export function tokenStatisticsDescriber(
  tokenizer: Tokenizer,
  options: TokenStatisticsOptions,
  context: ComponentContext,
): Describer {
  const provenance = { ...context.provenance, settings: { ...options } };
  return {
    provenance,
    async describe(request: DescribeRequest): Promise<DescribeResult> {
      const ranked = rankTokens(tokenizer, request);
      if (ranked.length === 0) {
        return {
          candidates: [],
          failures: Array.from({ length: request.count }, (_, i) => ({
            seed: request.seed + i,
            reason: 'empty' as const,
            detail: 'no token reaches the threshold in the prompt exemplars',
          })),
        };
      }
      const candidates: DescriptionCandidate[] = Array.from({ length: request.count }, (_, i) => {
        const named = ranked.slice(0, 1 + (i % Math.min(options.maxTokens, ranked.length)));
        return {
          description: describeTokens(named.map((t) => t.text)),
          seed: request.seed + i,
          describedBy: provenance,
        };
      });
      return { candidates, failures: [] };
    },
  };
}

function rankTokens(tokenizer: Tokenizer, request: DescribeRequest): TokenStat[] {
  const stats = new Map<string, TokenStat>();
  const threshold = signedActivation(request.sign, request.threshold);
  for (const exemplar of request.exemplars) {
    exemplar.tokens.forEach((id, t) => {
      if (tokenizer.isSpecial(id)) return;
      const text = tokenText(tokenizer, id);
      if (text === '') return;
      const stat = stats.get(text) ?? { text, marked: 0, seen: 0, activationSum: 0 };
      const activation = signedActivation(request.sign, exemplar.activations[t] ?? 0);
      stat.seen++;
      if (activation >= threshold && activation > 0) {
        stat.marked++;
        stat.activationSum += activation;
      }
      stats.set(text, stat);
    });
  }
  return [...stats.values()]
    .filter((s) => s.marked > 0)
    .sort(
      (a, b) =>
        b.marked * (b.marked / b.seen) - a.marked * (a.marked / a.seen) ||
        b.activationSum - a.activationSum ||
        (a.text < b.text ? -1 : 1),
    );
}

/**
 * What a token is called in a description: its text without surrounding spaces, or the whitespace itself for a
 * token that is only whitespace (a newline can be what a feature fires on). The simulator matches the same way.
 */
export function tokenText(tokenizer: Tokenizer, id: number): string {
  if (tokenizer.isSpecial(id)) return '';
  const text = tokenizer.decode([id]);
  return text.trim() || text;
}

/** The description grammar the baseline simulator reads back: quoted token texts. */
export function describeTokens(texts: readonly string[]): string {
  const quoted = texts.map((t) => JSON.stringify(t));
  const list = quoted.length === 1 ? quoted[0]! : `${quoted.slice(0, -1).join(', ')} and ${quoted.at(-1)}`;
  return `the token${texts.length === 1 ? '' : 's'} ${list}`;
}
