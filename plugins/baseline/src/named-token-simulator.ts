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
  // A description's named tokens, parsed once: stage 3 simulates the same text in several rounds.
  const parsed = new Map<string, ReturnType<typeof namedTokens>>();
  const namedIn = (description: string) => {
    let named = parsed.get(description);
    if (!named) {
      if (parsed.size >= 4096) parsed.clear();
      named = namedTokens(description);
      parsed.set(description, named);
    }
    return named;
  };
  return {
    provenance,
    async simulate(request: SimulateRequest): Promise<SimulateResult> {
      const predictions = request.descriptions.map((description) => {
        const { tokens, after } = namedIn(description);
        return request.sequences.map((sequence) => {
          const out = new Float32Array(sequence.length);
          if (tokens.size === 0 && after.size === 0) return out;
          for (let t = 0; t < sequence.length; t++) {
            const itself = tokens.size === 0 || tokens.has(nameOf(sequence[t]!));
            const previous = after.size === 0 || (t > 0 && after.has(nameOf(sequence[t - 1]!)));
            if (itself && previous) out[t] = 10;
          }
          return out;
        });
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
