/** The line the explainer's answer must end with: `[DESCRIPTION]: <one short description>`. */
export const DESCRIPTION_MARKER = '[DESCRIPTION]:';

/** The marker as matched: case-insensitive, spaces allowed before the colon (`[Description] :`). */
const MARKER_PATTERN = /\[DESCRIPTION\][ \t]*:/gi;

/**
 * Phrasings that make a marker-less answer a `refusal` rather than `malformed`: the usual openings of a chat
 * model declining a task. Kept short on purpose. A description is a refusal only when it OPENS with one
 * (`[DESCRIPTION]: I cannot determine...`); one that quotes an apology ("apologies such as "I'm sorry"") is kept.
 */
export const REFUSAL_PATTERNS: readonly RegExp[] = [
  /\bI(?: cannot|\s*can['’]?t|\s*can not)\b/i,
  /\bI(?:['’]m| am) (?:sorry|unable|not able)\b/i,
  /\bI(?: will not|\s*won['’]t)\b/i,
  /\bAs an AI\b/i,
];

export type DescriptionFailureReason = 'empty' | 'malformed' | 'refusal';

export type ParsedDescription =
  | { readonly ok: true; readonly description: string }
  | { readonly ok: false; readonly reason: DescriptionFailureReason; readonly detail: string };

/**
 * The description in an explainer's answer: the text after the LAST `[DESCRIPTION]:` marker (an answer may quote
 * the format before giving its own), to the end of that line, trimmed and otherwise verbatim. When that line is
 * blank (a model that breaks the line after the colon), the next non-blank line is the description.
 *
 * Failures: `empty` for a blank answer or nothing after the marker; `refusal` for an answer or a description that
 * reads as declining (REFUSAL_PATTERNS); `malformed` for any other marker-less answer. Every describer uses this one
 * parser, so the rules cannot drift between them.
 */
export function parseDescription(answer: string): ParsedDescription {
  if (answer.trim() === '') return { ok: false, reason: 'empty', detail: 'the answer is blank' };
  let end = -1;
  for (const match of answer.matchAll(MARKER_PATTERN)) end = match.index + match[0].length;
  if (end < 0) {
    const excerpt = preview(answer);
    if (REFUSAL_PATTERNS.some((pattern) => pattern.test(answer))) {
      return {
        ok: false,
        reason: 'refusal',
        detail: `the answer declines and has no ${DESCRIPTION_MARKER} line: ${excerpt}`,
      };
    }
    return {
      ok: false,
      reason: 'malformed',
      detail: `no ${DESCRIPTION_MARKER} line in a ${answer.length}-character answer: ${excerpt}`,
    };
  }
  const lines = answer.slice(end).split(/\r\n|\r|\n/);
  const description = lines.map((line) => line.trim()).find((line) => line !== '');
  if (description === undefined)
    return { ok: false, reason: 'empty', detail: `nothing follows the last ${DESCRIPTION_MARKER} marker` };
  // "[DESCRIPTION]: I'm sorry, ..." declines in the description's place: a refusal, never a description to score.
  if (
    REFUSAL_PATTERNS.some((pattern) => new RegExp(`^[\\s"'\`*]*(?:${pattern.source})`, pattern.flags).test(description))
  ) {
    return { ok: false, reason: 'refusal', detail: `the description declines: ${preview(description)}` };
  }
  return { ok: true, description };
}

function preview(text: string): string {
  const flat = text.trim().replace(/\s+/g, ' ');
  return JSON.stringify(flat.length > 80 ? `${flat.slice(0, 80)}...` : flat);
}
