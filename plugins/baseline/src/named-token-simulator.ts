import type { ComponentContext, SimulateRequest, SimulateResult, Simulator, Tokenizer } from '@expgen/contract';
import { tokenText } from './token-statistics-describer.js';

/**
 * Predicts from the tokens a description names: 10 on a token whose name (`tokenText`, case-insensitive) is one of
 * the description's quoted strings, 0 elsewhere. It reads only the description text, never how it was made, so
 * it is an honest null reference for the scorer and the embedded default's simulator.
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
        const named = new Set(
          quotedStrings(description)
            .map((s) => (s.trim() || s).toLowerCase())
            .filter(Boolean),
        );
        return request.sequences.map((tokens) => Float32Array.from(tokens, (id) => (named.has(nameOf(id)) ? 10 : 0)));
      });
      return { predictions, mode: 'named-tokens', simulatedBy: provenance };
    },
  };
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
