import type { Tokenizer } from '@expgen/contract';

/**
 * UTF-8 facts shared by everything that shows byte-level tokens (prompts, the report): a character may be split
 * over several tokens, so displays join token bytes before decoding.
 */

/** Bytes of the UTF-8 sequence a lead byte starts (1-4), or 0 for a byte that cannot start one. */
export function utf8SequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

export function isUtf8Continuation(byte: number): boolean {
  return byte >= 0x80 && byte <= 0xbf;
}

/** UTF-8's continuation rule for byte `index` of a sequence, with the narrower second-byte ranges that exclude overlongs and surrogates. */
export function validUtf8Continuation(lead: number, index: number, byte: number): boolean {
  if (index === 1) {
    if (lead === 0xe0) return byte >= 0xa0 && byte <= 0xbf;
    if (lead === 0xed) return byte >= 0x80 && byte <= 0x9f;
    if (lead === 0xf0) return byte >= 0x90 && byte <= 0xbf;
    if (lead === 0xf4) return byte >= 0x80 && byte <= 0x8f;
  }
  return isUtf8Continuation(byte);
}

const specialNameCache = new WeakMap<object, Map<number, string>>();

/** Id -> the special-token string it stands for (the first string, where several map to one id). */
export function specialTokenNames(tokenizer: Pick<Tokenizer, 'specialTokens'>): Map<number, string> {
  let names = specialNameCache.get(tokenizer);
  if (!names) {
    names = new Map();
    for (const [text, id] of tokenizer.specialTokens) if (!names.has(id)) names.set(id, text);
    specialNameCache.set(tokenizer, names);
  }
  return names;
}
