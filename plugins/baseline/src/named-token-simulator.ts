import type { ComponentContext, SimulateRequest, SimulateResult, Simulator, Tokenizer } from '@expgen/contract';
import { tokenText } from './token-statistics-describer.js';

/**
 * Predicts from the tokens a description names: 10 on a token whose name (`tokenText`, case-insensitive) is one of
 * the description's quoted strings, 0 elsewhere. Quoted strings after the word "after" name the previous token
 * instead (`the tokens after "the"`: 10 on every token that follows "the"; `the tokens "cat" after "the"`: on
 * "cat" after "the"). It reads only the description text, never how it was made, so it is an honest null
 * reference for the scorer and the embedded default's simulator.
 */
export function namedTokenSimulator(tokenizer: Tokenizer, context: ComponentContext): Simulator {
  const provenance = context.provenance;
  const textOf = new Map<number, string>();
  const nameOf = (id: number) => {
    let text = textOf.get(id);
    if (text === undefined) textOf.set(id, (text = tokenText(tokenizer, id).toLowerCase()));
    return text;
  };
  return {
    provenance,
    async simulate(request: SimulateRequest): Promise<SimulateResult> {
      const predictions = request.descriptions.map((description) => {
        const { tokens, after } = namedTokens(description);
        return request.sequences.map((sequence) =>
          Float32Array.from(sequence, (id, t) => {
            const itself = tokens.size === 0 || tokens.has(nameOf(id));
            const previous = after.size === 0 || (t > 0 && after.has(nameOf(sequence[t - 1]!)));
            return itself && previous && (tokens.size > 0 || after.size > 0) ? 10 : 0;
          }),
        );
      });
      return { predictions, mode: 'named-tokens', simulatedBy: provenance };
    },
  };
}

/** The token names a description quotes, split at the word "after" into the tokens and the tokens before them. */
export function namedTokens(description: string): { tokens: Set<string>; after: Set<string> } {
  // The word "after" outside quotes: a quoted "after" is a token name (the preposition).
  const unquoted = description.replace(/"(?:[^"\\]|\\.)*"/g, (q) => ' '.repeat(q.length));
  const cut = unquoted.search(/\bafter\b/);
  const names = (text: string) =>
    new Set(
      quotedStrings(text)
        .map((s) => (s.trim() || s).toLowerCase())
        .filter(Boolean),
    );
  if (cut < 0) return { tokens: names(description), after: new Set() };
  return { tokens: names(description.slice(0, cut)), after: names(description.slice(cut)) };
}

/** Strings in double quotes, with JSON escapes honoured, as `describeTokens` writes them. */
export function quotedStrings(description: string): string[] {
  const out: string[] = [];
  for (const match of description.matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
    try {
      out.push(JSON.parse(`"${match[1]}"`) as string);
    } catch {
      out.push(match[1]!);
    }
  }
  return out;
}
