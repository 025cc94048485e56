import { DESCRIPTION_MARKER, REFUSAL_PATTERNS, parseDescription, type ParsedDescription } from '@expgen/plugin-kit';

export { DESCRIPTION_MARKER, REFUSAL_PATTERNS };
export type ParsedAnswer = ParsedDescription;

/**
 * Reads a chat-completions answer with the parser every describer shares (`parseDescription`: the text after the
 * LAST `[DESCRIPTION]:` marker), plus what only an HTTP API says: OpenAI's structured `refusal` field wins when
 * present, and with `finishReason: 'length'` a description that runs to the very end of the answer may be cut
 * short, so it is `malformed` rather than kept.
 */
export function parseDescriptionAnswer(
  content: string | null,
  refusal: string | null = null,
  finishReason: string | null = null,
): ParsedAnswer {
  if (refusal) return { ok: false, reason: 'refusal', detail: `the server flagged a refusal: ${excerpt(refusal)}` };
  const text = content ?? '';
  const parsed = parseDescription(text);
  if (parsed.ok && finishReason === 'length' && !/[\r\n]/.test(text.slice(text.lastIndexOf(parsed.description)))) {
    return {
      ok: false,
      reason: 'malformed',
      detail: `the answer was cut at the token limit inside the description: ${excerpt(parsed.description)} (raise maxTokens)`,
    };
  }
  return parsed;
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > 120 ? `${flat.slice(0, 117)}...` : flat);
}
