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
 * prompt's exemplars (firing count x precision, a token firing at the marking threshold or at FIRING_FRACTION of
 * the strongest activation shown, whichever is lower). It is the embedded default's describer and a null baseline a
 * real explainer must beat. Candidate i names the top 1 + (i mod maxTokens) tokens, so candidates differ
 * deterministically and best-of-k selection has something to choose from. When the feature fires after a few
 * particular tokens rather than on particular ones (`contextRule`), the odd candidates say so instead
 * ("the tokens after "the""), and best-of-k selection decides which kind predicts better.
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
      const firing = firingTokens(tokenizer, request);
      const ranked = rankTokens(firing);
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
      const previous = contextRule(firing);
      const candidates: DescriptionCandidate[] = Array.from({ length: request.count }, (_, i) => {
        const description =
          previous.length > 0
            ? i % 2 === 1
              ? describeContext(previous.slice(0, 1 + ((i >> 1) % previous.length)))
              : describeTokens(ranked.slice(0, 1 + ((i >> 1) % Math.min(options.maxTokens, ranked.length))))
            : describeTokens(ranked.slice(0, 1 + (i % Math.min(options.maxTokens, ranked.length))));
        return { description, seed: request.seed + i, describedBy: provenance };
      });
      return { candidates, failures: [] };
    },
  };
}

/**
 * A token fires at FIRING_FRACTION of the prompt's strongest activation when that is below the marking
 * threshold. The reference's tail quantiles (1e-4 and rarer) are meant for corpora of millions of tokens; on a
 * small corpus they sit at the top handful of tokens and would leave the describer naming one-off tokens
 * instead of the ones a feature fires on reliably.
 */
export const FIRING_FRACTION = 0.5;

/** One shown token: its name, the name of the token before it ('' at the start), and whether it fires. */
interface ShownToken {
  readonly name: string;
  readonly previous: string;
  readonly fires: boolean;
  readonly activation: number;
}

function firingTokens(tokenizer: Tokenizer, request: DescribeRequest): ShownToken[] {
  let strongest = 0;
  for (const exemplar of request.exemplars) {
    exemplar.tokens.forEach((id, t) => {
      if (!tokenizer.isSpecial(id))
        strongest = Math.max(strongest, signedActivation(request.sign, exemplar.activations[t] ?? 0));
    });
  }
  const threshold = Math.min(signedActivation(request.sign, request.threshold), FIRING_FRACTION * strongest);
  const shown: ShownToken[] = [];
  for (const exemplar of request.exemplars) {
    exemplar.tokens.forEach((id, t) => {
      const name = tokenText(tokenizer, id);
      if (name === '') return;
      const activation = signedActivation(request.sign, exemplar.activations[t] ?? 0);
      const previous = t > 0 ? tokenText(tokenizer, exemplar.tokens[t - 1]!) : '';
      shown.push({ name, previous, fires: activation >= threshold && activation > 0, activation });
    });
  }
  return shown;
}

/** Token names by firing count x precision, strongest first. */
function rankTokens(shown: readonly ShownToken[]): string[] {
  const stats = new Map<string, TokenStat>();
  for (const token of shown) {
    const stat = stats.get(token.name) ?? { text: token.name, marked: 0, seen: 0, activationSum: 0 };
    stat.seen++;
    if (token.fires) {
      stat.marked++;
      stat.activationSum += token.activation;
    }
    stats.set(token.name, stat);
  }
  return [...stats.values()]
    .filter((s) => s.marked > 0)
    .sort(
      (a, b) =>
        b.marked * (b.marked / b.seen) - a.marked * (a.marked / a.seen) ||
        b.activationSum - a.activationSum ||
        (a.text < b.text ? -1 : 1),
    )
    .map((s) => s.text);
}

/** Most previous-token names a context description names. */
const MAX_CONTEXT_TOKENS = 3;
/** A context rule must cover this share of the firing tokens, and this share of the tokens it selects must fire. */
const CONTEXT_COVERAGE = 0.75;
const CONTEXT_PRECISION = 0.6;

/**
 * The names (lower-cased, as the simulator matches them) of up to MAX_CONTEXT_TOKENS previous tokens after which
 * the feature fires, when together they precede at least CONTEXT_COVERAGE of the firing tokens and at least
 * CONTEXT_PRECISION of the tokens they precede fire; otherwise none. A feature that fires on a token itself is
 * preceded by all sorts of tokens, so it finds no rule; one that fires on whatever follows "the" does. A lone
 * space is never a context: Llama-3's pre-tokenizer splits it off before digits and symbols, so "after a space"
 * would only restate which tokens those are.
 */
function contextRule(shown: readonly ShownToken[]): string[] {
  const after = new Map<string, { fired: number; seen: number }>();
  let firing = 0;
  for (const token of shown) {
    if (token.fires) firing++;
    if (token.previous === '' || /^[ \t]+$/.test(token.previous)) continue;
    const key = token.previous.toLowerCase();
    const stat = after.get(key) ?? { fired: 0, seen: 0 };
    stat.seen++;
    if (token.fires) stat.fired++;
    after.set(key, stat);
  }
  const ranked = [...after.entries()]
    .filter(([, s]) => s.fired > 0)
    .sort(([a, x], [b, y]) => y.fired * (y.fired / y.seen) - x.fired * (x.fired / x.seen) || (a < b ? -1 : 1))
    .slice(0, MAX_CONTEXT_TOKENS);
  const fired = ranked.reduce((n, [, s]) => n + s.fired, 0);
  const seen = ranked.reduce((n, [, s]) => n + s.seen, 0);
  if (firing === 0 || fired < CONTEXT_COVERAGE * firing || fired < CONTEXT_PRECISION * seen) return [];
  return ranked.map(([name]) => name);
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

/** The context grammar the simulator reads back: `the tokens after "the"`, `the tokens after "\n" or ":"`. */
export function describeContext(previous: readonly string[]): string {
  const quoted = previous.map((t) => JSON.stringify(t));
  const list = quoted.length === 1 ? quoted[0]! : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
  return `the tokens after ${list}`;
}
