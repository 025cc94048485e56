/** The marker the explainer prompt asks the answer to end with; the description follows the last one. */
export const DESCRIPTION_MARKER = '[DESCRIPTION]:';

/**
 * Openings that mark a refusal rather than a description (matched case-insensitively at the start of the
 * description, or of the whole answer when it has no marker). Kept short on purpose: a description may well talk
 * about apologies ("phrases like \"I'm sorry\""), and quoting keeps such a description clear of these patterns.
 */
export const REFUSAL_PATTERNS: readonly RegExp[] = [
  /^(?:i['’]m|i am) (?:sorry|afraid|unable|not able)\b/i,
  /^i apologi[sz]e\b/i,
  /^(?:sorry|unfortunately),? i\b/i,
  /^i (?:can(?:no|')t|can not|won['’]t|will not|do not feel comfortable|don['’]t feel comfortable)\b/i,
  /^as an ai\b/i,
];

export type ParsedAnswer =
  | { readonly ok: true; readonly description: string }
  | { readonly ok: false; readonly reason: 'refusal' | 'empty' | 'malformed'; readonly detail: string };

/**
 * Reads an explainer's answer: the description is the text after the LAST `[DESCRIPTION]:` marker, up to the end
 * of that line, trimmed. A blank answer or blank description is `empty`; an answer without the marker is
 * `malformed` (or `refusal` when it opens like one); a description that opens like a refusal is `refusal`.
 * `refusal` is OpenAI's structured refusal field, which wins when present. With `finishReason: 'length'`, a
 * description that runs to the very end of the answer may be cut short, so it is `malformed` rather than kept.
 */
export function parseDescriptionAnswer(content: string | null, refusal: string | null = null, finishReason: string | null = null): ParsedAnswer {
  if (refusal) return { ok: false, reason: 'refusal', detail: `the server flagged a refusal: ${excerpt(refusal)}` };
  const text = content ?? '';
  if (text.trim() === '') return { ok: false, reason: 'empty', detail: 'the answer is blank' };
  const at = text.lastIndexOf(DESCRIPTION_MARKER);
  if (at < 0) {
    const start = text.trim();
    if (looksLikeRefusal(start)) return { ok: false, reason: 'refusal', detail: `the answer refuses: ${excerpt(start)}` };
    return { ok: false, reason: 'malformed', detail: `the answer has no ${DESCRIPTION_MARKER} marker: ${excerpt(start)}` };
  }
  const rest = text.slice(at + DESCRIPTION_MARKER.length);
  const description = rest.split(/\r?\n|\r/, 1)[0]!.trim();
  if (description === '') return { ok: false, reason: 'empty', detail: `nothing follows the last ${DESCRIPTION_MARKER} marker on its line` };
  if (finishReason === 'length' && !/[\r\n]/.test(rest)) {
    return { ok: false, reason: 'malformed', detail: `the answer was cut at the token limit inside the description: ${excerpt(description)} (raise maxTokens)` };
  }
  if (looksLikeRefusal(description)) return { ok: false, reason: 'refusal', detail: `the description refuses: ${excerpt(description)}` };
  return { ok: true, description };
}

export function looksLikeRefusal(text: string): boolean {
  return REFUSAL_PATTERNS.some((pattern) => pattern.test(text.trimStart()));
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > 120 ? `${flat.slice(0, 117)}...` : flat);
}
