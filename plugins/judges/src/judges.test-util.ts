import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ComponentContext, JudgeRequest, JudgeSequence, Tokenizer } from '@expgen/contract';
import { fakeTokenizer, memoryLogger } from '@expgen/contract/testing';

/** Shared by this package's tests (not a test file itself): contexts and judge requests with a known truth. */

export function testContext(component: 'detection' | 'fuzzing' = 'detection'): ComponentContext & {
  logger: ReturnType<typeof memoryLogger>;
  cacheDir: string;
} {
  return {
    provenance: { kind: 'scorer', component, plugin: '@expgen/plugin-judges', pluginVersion: '0.1.0' },
    baseDir: process.cwd(),
    cacheDir: mkdtempSync(join(tmpdir(), 'expgen-judges-')),
    logger: memoryLogger(),
  };
}

/**
 * A tokenizer with one token per word (a leading space included), as a real BPE vocabulary has for common words:
 * the byte-level fake would make the space byte the most frequent firing token. Ids past the fake's 259 bytes and
 * specials are handed out as words are first seen, so every test sees the same ids for the same words.
 */
export function wordTokenizer(): Tokenizer {
  const bytes = fakeTokenizer();
  const ids = new Map<string, number>();
  const words: string[] = [];
  const idOf = (piece: string) => {
    let id = ids.get(piece);
    if (id === undefined) {
      id = 259 + words.length;
      ids.set(piece, id);
      words.push(piece);
    }
    return id;
  };
  const encoder = new TextEncoder();
  const tokenizer: Tokenizer = {
    ...bytes,
    vocabSize: 1_000_000,
    encode: (text, options) => [...(options?.addBos ? [0] : []), ...(text.match(/\s*\S+|\s+/g) ?? []).map(idOf)],
    decode: (list) => list.map((id) => (id >= 259 ? words[id - 259]! : id >= 3 ? bytes.decode([id]) : '')).join(''),
    tokenBytes: (id) => (id >= 259 ? encoder.encode(words[id - 259]!) : bytes.tokenBytes(id)),
    encodeChat: (messages, options) => tokenizer.encode(bytes.applyChatTemplate(messages, options), { addBos: true }),
  };
  return tokenizer;
}

/**
 * A sequence of words; the feature fires (activation `peak`) on the word "cat" and is quiet (0.1) elsewhere, or goes
 * the other way (−peak) on "dog".
 */
export function wordSequence(
  tokenizer: Tokenizer,
  words: readonly string[],
  peak: number,
  rank: number,
): JudgeSequence {
  const tokens: number[] = [];
  const activations: number[] = [];
  for (const [i, word] of words.entries()) {
    const ids = tokenizer.encode(i === 0 ? word : ` ${word}`);
    const value = word === 'cat' ? peak : word === 'dog' ? -peak : 0.1;
    for (const id of ids) {
      tokens.push(id);
      activations.push(value);
    }
  }
  return { tokens, activations: Float32Array.from(activations), countFrom: 0, rank };
}

const sharedWords = wordTokenizer();

/** The word tokenizer `catRequest` encodes with by default. */
export function catTokenizer(): Tokenizer {
  return sharedWords;
}

/**
 * A request for the positive sign of a feature that fires on "cat": 20 top exemplars with cats (peaks falling with
 * the rank), 10 opposite ones with dogs, and 10 random sequences of which the first 2 hold a weak cat (under the
 * default threshold: they do not fire) and the last holds a strong one (it fires).
 */
export function catRequest(
  options: { description?: string; seed?: number; purpose?: 'report' | 'null'; tokenizer?: Tokenizer } = {},
): JudgeRequest {
  const tokenizer = options.tokenizer ?? sharedWords;
  const filler = ['the', 'sun', 'was', 'up', 'and', 'a', 'bird', 'sang'];
  const top = Array.from({ length: 20 }, (_, r) =>
    wordSequence(tokenizer, [...filler.slice(0, 3 + (r % 4)), 'cat', ...filler.slice(4)], 10 - r * 0.3, r),
  );
  const opposite = Array.from({ length: 10 }, (_, r) => wordSequence(tokenizer, ['my', 'dog', 'ran', `far${r}`], 8, r));
  const random = Array.from({ length: 10 }, (_, r) =>
    wordSequence(
      tokenizer,
      r < 2 ? ['a', 'cat', `sat${r}`] : r === 9 ? ['one', 'cat', 'here'] : ['plain', 'words', `only${r}`],
      r < 2 ? 1 : r === 9 ? 9 : 0.1,
      r,
    ),
  );
  return {
    feature: { space: 'mlp', layer: 3, index: 7 },
    sign: 'positive',
    description: options.description ?? 'the word "cat"',
    sequences: { top, opposite, random },
    seed: options.seed ?? 0,
    purpose: options.purpose ?? 'report',
  };
}
