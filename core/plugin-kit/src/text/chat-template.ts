import { ExpgenError, type ChatMessage } from '@expgen/contract';

/**
 * A chat prompt template: the explainer's (stage 2) and the judges' (stage 3) prompts are files users replace. The
 * format:
 *
 * - Markdown, with one message per section: a line `## system`, `## user` or `## assistant` (exactly, any case)
 *   starts a section whose content is the message, up to the next such line. Other lines, other headings
 *   included, are content. Content is trimmed; an empty section is an error.
 * - HTML comments `<!-- ... -->` anywhere are notes for the template's readers and are removed; any other text
 *   before the first section is an error.
 * - At least one `## user` section, and the last section must be `## user` (the answer follows it).
 * - Placeholders `{name}`, from the set the template's user declares, filled once, in one pass (so data is never
 *   read as a placeholder). Some may be required. A brace doubled on either side is literal text, so a template
 *   can show a marker format `{{like this}}`.
 */
export interface ChatTemplate {
  /** The file it came from (or the name given to the parser), for messages. */
  readonly source: string;
  readonly sections: readonly { readonly role: ChatTemplateRole; readonly content: string }[];
}

export type ChatTemplateRole = 'system' | 'user' | 'assistant';

export interface ChatTemplateSpec {
  /** Placeholder name -> what it stands for (listed in the message about an unknown placeholder). */
  readonly placeholders: Readonly<Record<string, string>>;
  /** Placeholder name -> what to say when a template never uses it: the ones a template must show. */
  readonly required: Readonly<Record<string, string>>;
}

const SECTION = /^##[ \t]+(system|user|assistant)[ \t]*$/i;
/** `{name}` not part of `{{` or `}}`. */
const PLACEHOLDER = /(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})/g;

/**
 * Parses template text; `source` names it in error messages, each one `ExpgenError` line starting
 * `prompt template <source>:` with the line number where there is one.
 */
export function parseChatTemplate(text: string, source: string, spec: ChatTemplateSpec): ChatTemplate {
  const fail = (what: string) => new ExpgenError(`prompt template ${source}: ${what}`);
  const normalized = text.replace(/\r\n?/g, '\n');
  const open = normalized.indexOf('<!--');
  let stripped = normalized;
  if (open >= 0) {
    // Comments become as many line breaks as they held, so line numbers in messages stay right.
    stripped = normalized.replace(/<!--[\s\S]*?-->/g, (comment) => comment.replace(/[^\n]/g, ''));
    const unclosed = stripped.indexOf('<!--');
    if (unclosed >= 0) throw fail(`comment "<!--" on line ${lineOf(stripped, unclosed)} is never closed with "-->"`);
  }
  const sections: { role: ChatTemplateRole; line: number; lines: string[] }[] = [];
  stripped.split('\n').forEach((line, i) => {
    const heading = SECTION.exec(line);
    if (heading) {
      sections.push({ role: heading[1]!.toLowerCase() as ChatTemplateRole, line: i + 1, lines: [] });
    } else if (sections.length > 0) {
      sections[sections.length - 1]!.lines.push(line);
    } else if (line.trim() !== '') {
      throw fail(
        `line ${i + 1} is text before the first section heading; start the template with "## system" or "## user" (notes go in <!-- comments -->)`,
      );
    }
  });
  if (!sections.some((s) => s.role === 'user'))
    throw fail('has no "## user" section; the data is shown in a user message');
  const last = sections[sections.length - 1]!;
  if (last.role !== 'user')
    throw fail(
      `the last section (line ${last.line}) is "## ${last.role}"; the template must end with a "## user" section`,
    );
  const used = new Set<string>();
  const out = sections.map((section) => {
    const raw = section.lines.join('\n');
    const content = raw.trim();
    if (content === '') throw fail(`the "## ${section.role}" section on line ${section.line} is empty`);
    for (const match of raw.matchAll(PLACEHOLDER)) {
      const name = match[1]!;
      if (!Object.hasOwn(spec.placeholders, name)) {
        const known = Object.keys(spec.placeholders)
          .map((k) => `{${k}}`)
          .join(', ');
        const line = section.line + lineOf(raw, match.index);
        throw fail(
          `unknown placeholder {${name}} on line ${line} (in the "## ${section.role}" section); known placeholders: ${known}`,
        );
      }
      used.add(name);
    }
    return { role: section.role, content };
  });
  for (const [name, message] of Object.entries(spec.required)) if (!used.has(name)) throw fail(message);
  return { source, sections: out };
}

/** Fills a template's placeholders (one pass: values are never searched for placeholders). */
export function fillChatTemplate(template: ChatTemplate, values: Readonly<Record<string, string>>): ChatMessage[] {
  return template.sections.map((section) => ({
    role: section.role,
    content: section.content.replace(PLACEHOLDER, (match, name: string) => values[name] ?? match),
  }));
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
