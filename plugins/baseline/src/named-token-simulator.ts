import type { ComponentContext, SimulateRequest, SimulateResult, Simulator, Tokenizer } from '@expgen/contract';
import { tokenText } from './token-statistics-describer.js';

/**
 * Predicts from the tokens a description names: 10 on a token whose name (`tokenText`, case-insensitive) is one of
 * the description's quoted strings, 0 elsewhere. It reads only the description text, never how it was made, so
 * it is an honest null reference for the scorer and the embedded default's simulator.
 */
export function namedTokenSimulator(tokenizer: Tokenizer, context: ComponentContext): Simulator {
  const provenance = context.provenance;
  // Token names by id, filled as ids are met: a typed index into a dense list (a sparse array of 128k slots would
  // fall back to a dictionary), and a map for ids beyond the vocabulary.
  const slot = new Int32Array(tokenizer.vocabSize).fill(-1);
  const names: string[] = [];
  const beyond = new Map<number, string>();
  const nameOf = (id: number): string => {
    if (id >= 0 && id < slot.length) {
      const i = slot[id]!;
      if (i >= 0) return names[i]!;
      slot[id] = names.length;
      names.push(tokenText(tokenizer, id).toLowerCase());
      return names[names.length - 1]!;
    }
    let name = beyond.get(id);
    if (name === undefined) beyond.set(id, (name = tokenText(tokenizer, id).toLowerCase()));
    return name;
  };
  // A description's named strings, parsed once: stage 3 simulates the same text in several rounds.
  const parsed = new Map<string, ReadonlySet<string>>();
  const namedIn = (description: string) => {
    let named = parsed.get(description);
    if (!named) {
      if (parsed.size >= 4096) parsed.clear();
      named = new Set(
        quotedStrings(description)
          .map((s) => (s.trim() || s).toLowerCase())
          .filter(Boolean),
      );
      parsed.set(description, named);
    }
    return named;
  };
  return {
    provenance,
    async simulate(request: SimulateRequest): Promise<SimulateResult> {
      const predictions = request.descriptions.map((description) => {
        const named = namedIn(description);
        return request.sequences.map((tokens) => {
          const out = new Float32Array(tokens.length);
          if (named.size === 0) return out;
          for (let t = 0; t < tokens.length; t++) if (named.has(nameOf(tokens[t]!))) out[t] = 10;
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
