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
        // Whether each id is named, decided once per id for this description: sequences repeat their tokens.
        const hit = new Map<number, boolean>();
        return request.sequences.map((tokens) => {
          const out = new Float32Array(tokens.length);
          for (let t = 0; t < tokens.length; t++) {
            const id = tokens[t]!;
            let isNamed = hit.get(id);
            if (isNamed === undefined) hit.set(id, (isNamed = named.has(nameOf(id))));
            if (isNamed) out[t] = 10;
          }
          return out;
        });
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
