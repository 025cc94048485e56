/**
 * Escaping for the HTML report. Exemplar text comes from the web and descriptions from a model: every string that
 * reaches a page goes through one of these, and none is ever parsed as markup.
 *
 * - `escapeHtml`: text placed in HTML markup (element content or a quoted attribute value).
 * - `jsonForScript`: data placed inside `<script type="application/json">`: `<`, `>`, `&` and the JavaScript line
 *   separators become `\uXXXX` escapes, so nothing in the data can close the element (`</script>`) or open a
 *   comment (`<!--`), and `JSON.parse` of the element's text gives back exactly the data.
 * - `visibleText`: characters that are invisible or that reorder text (bidi overrides, zero-width characters,
 *   controls) become a visible `⟨U+202E⟩`, so a string cannot hide itself or flip the page around it.
 */

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** JSON whose text can sit between `<script type="application/json">` and `</script>` whatever the data holds. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** How whitespace that would break an exemplar's line shows. */
const SHOWN_WHITESPACE: Readonly<Record<string, string>> = { '\n': '↵', '\r': '␍', '\t': '⇥' };

/**
 * Controls (Cc), format characters (Cf: bidi embeddings, overrides and isolates, zero-width space/joiners, word
 * joiner, BOM, soft hyphen, tag characters), line and paragraph separators and lone surrogates. Bidi marks
 * (U+200E, U+200F, U+061C) are Cf too.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

/** `text` with line breaks and tabs as ↵ ␍ ⇥ and every invisible or reordering character as `⟨U+XXXX⟩`. */
export function visibleText(text: string): string {
  return text.replace(INVISIBLE, (c) => SHOWN_WHITESPACE[c] ?? codePointLabel(c));
}

export function codePointLabel(character: string): string {
  return `⟨U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}⟩`;
}
