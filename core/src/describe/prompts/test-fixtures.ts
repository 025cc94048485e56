import type { Tokenizer } from '@expgen/contract';
import { fakeTokenizer } from '@expgen/contract/testing';

/**
 * Test helpers for the prompt modules: the fake byte tokenizer (ids 0..2 `<bos>`, `<eos>`, `<pad>`; id b + 3 is
 * byte b) with Llama-style special tokens added after the bytes (`<|eot_id|>` is 259, `<|start_header_id|>` 260).
 */
export const EOT = 259;
export const START_HEADER = 260;

export function tokenizerWithChatSpecials(): Tokenizer {
  const base = fakeTokenizer();
  const extra = new Map<string, number>([
    ['<|eot_id|>', EOT],
    ['<|start_header_id|>', START_HEADER],
  ]);
  const names = new Map([...extra].map(([text, id]) => [id, text]));
  return {
    ...base,
    vocabSize: base.vocabSize + extra.size,
    specialTokens: new Map([...base.specialTokens, ...extra]),
    tokenBytes: (id) => (names.has(id) ? new TextEncoder().encode(names.get(id)) : base.tokenBytes(id)),
    isSpecial: (id) => names.has(id) || base.isSpecial(id),
    decode: (ids) => ids.map((id) => (names.has(id) ? names.get(id)! : base.decode([id]))).join(''),
  };
}

/** Tokens and activations from text pieces: every byte-token of a piece gets the piece's activation. */
export function pieces(
  tokenizer: Tokenizer,
  parts: readonly (readonly [string | number, number])[],
): { tokens: number[]; activations: number[] } {
  const tokens: number[] = [];
  const activations: number[] = [];
  for (const [part, activation] of parts) {
    const ids = typeof part === 'number' ? [part] : tokenizer.encode(part);
    for (const id of ids) {
      tokens.push(id);
      activations.push(activation);
    }
  }
  return { tokens, activations };
}
