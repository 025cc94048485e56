import { createHash } from 'node:crypto';
import type { ChatMessage, Tokenizer } from '../tokenizer.js';

const SPECIALS = ['<bos>', '<eos>', '<pad>'] as const;

/**
 * A byte-level tokenizer for tests: ids 0..2 are `<bos>`, `<eos>`, `<pad>`, id b + 3 is the byte b. Every UTF-8
 * string round-trips, and multi-byte characters span several tokens, as in real byte-level BPE.
 */
export function fakeTokenizer(): Tokenizer {
  const specialTokens = new Map<string, number>(SPECIALS.map((s, i) => [s, i]));
  const decoder = new TextDecoder();
  return {
    vocabSize: 256 + SPECIALS.length,
    bosId: 0,
    eosIds: [1],
    specialTokens,
    fingerprint: createHash('sha256').update('expgen-fake-byte-tokenizer-v1').digest('hex'),
    encode(text, options) {
      const ids = Array.from(new TextEncoder().encode(text), (b) => b + SPECIALS.length);
      return options?.addBos ? [0, ...ids] : ids;
    },
    encodeWithSpecialTokens(text, options) {
      const ids: number[] = options?.addBos ? [0] : [];
      for (const part of text.split(/(<bos>|<eos>|<pad>)/)) {
        if (specialTokens.has(part)) ids.push(specialTokens.get(part)!);
        else ids.push(...this.encode(part));
      }
      return ids;
    },
    encodeChat(messages, options) {
      // Contents are data: encoded as text even when they spell a special token.
      const ids = [0];
      if (options?.date) ids.push(...this.encode(`date: ${options.date}\n`));
      for (const m of messages)
        ids.push(...this.encode(`${m.role}: `), ...this.encode(m.content), ...this.encode('\n'));
      if (options?.addGenerationPrompt) ids.push(...this.encode('assistant: '));
      return ids;
    },
    decode(ids) {
      return decoder.decode(
        Uint8Array.from(
          ids.filter((id) => id >= SPECIALS.length),
          (id) => id - SPECIALS.length,
        ),
      );
    },
    tokenBytes(id) {
      return id < SPECIALS.length ? new TextEncoder().encode(SPECIALS[id]) : Uint8Array.of(id - SPECIALS.length);
    },
    isSpecial: (id) => id < SPECIALS.length,
    applyChatTemplate(messages: readonly ChatMessage[], options) {
      const body = messages.map((m) => `${m.role}: ${m.content}\n`).join('');
      return `${options?.date ? `date: ${options.date}\n` : ''}${body}${options?.addGenerationPrompt ? 'assistant: ' : ''}`;
    },
  };
}
