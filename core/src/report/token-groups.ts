import { isUtf8Continuation, specialTokenNames, utf8SequenceLength } from '../engine/utf8-tokens.js';
import type { Tokenizer } from '@expgen/contract';
import { visibleText } from './escape.js';

/** What the report needs of the subject's tokenizer: the bytes of a token, and which tokens are control tokens. */
export type ReportTokenizer = Pick<Tokenizer, 'tokenBytes' | 'isSpecial' | 'specialTokens'>;

/** Consecutive tokens shown as one piece of text. */
export interface TokenGroup {
  /** First token of the group. */
  readonly start: number;
  /** Tokens in the group: more than one where a character's UTF-8 bytes are split over several tokens. */
  readonly count: number;
  /** Display text: decoded, with invisible and reordering characters made visible (see `visibleText`). */
  readonly text: string;
}

// ignoreBOM: a U+FEFF in the data is a character to show, not a byte-order mark to drop.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Splits a token sequence into display groups. A token whose bytes end inside a multi-byte UTF-8 character is
 * joined with the tokens that complete it (an emoji split over three byte-level tokens shows as one emoji);
 * bytes that can never complete a character (a cut-off tail, a stray continuation byte) show as U+FFFD, as in
 * the prompts (`describe/prompts/render.ts`). Control tokens show as their strings (`<|begin_of_text|>`).
 */
export function groupTokens(tokens: ArrayLike<number>, tokenizer: ReportTokenizer): TokenGroup[] {
  const groups: TokenGroup[] = [];
  const names = specialTokenNames(tokenizer);
  let bytes: number[] = [];
  let start = 0;
  let count = 0;
  const flush = () => {
    if (count === 0) return;
    groups.push({ start, count, text: visibleText(utf8.decode(Uint8Array.from(bytes))) });
    bytes = [];
    count = 0;
  };
  for (let i = 0; i < tokens.length; i++) {
    const id = tokens[i]!;
    if (tokenizer.isSpecial(id)) {
      flush();
      groups.push({ start: i, count: 1, text: visibleText(names.get(id) ?? utf8.decode(tokenizer.tokenBytes(id))) });
      continue;
    }
    const own = tokenizer.tokenBytes(id);
    // An unfinished character followed by anything but a continuation byte can never finish: show it as it is.
    if (count > 0 && !(own.length > 0 && isUtf8Continuation(own[0]!))) flush();
    if (count === 0) start = i;
    for (const b of own) bytes.push(b);
    count++;
    if (!endsInsideCharacter(bytes) || count >= MAX_GROUP) flush();
  }
  flush();
  return groups;
}

/** A group never grows past this many tokens, whatever the bytes (a character is at most 4 bytes). */
const MAX_GROUP = 8;

/** Whether the bytes end with the start of a multi-byte character whose continuation bytes have not all come. */
function endsInsideCharacter(bytes: readonly number[]): boolean {
  let back = 0;
  while (back < 3 && back < bytes.length && isUtf8Continuation(bytes[bytes.length - 1 - back]!)) back++;
  const leadAt = bytes.length - 1 - back;
  if (leadAt < 0) return false;
  const need = utf8SequenceLength(bytes[leadAt]!);
  return need > 1 && back + 1 < need;
}
