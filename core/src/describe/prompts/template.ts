import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExpgenError, type ChatMessage } from '@expgen/contract';

/**
 * An explainer prompt template. The file format (see README.md beside this file):
 *
 * - Markdown, with one message per section: a line `## system`, `## user` or `## assistant` (exactly, any case)
 *   starts a section whose content is the message, up to the next such line. Other lines, other headings
 *   included, are content. Content is trimmed; an empty section is an error.
 * - HTML comments `<!-- ... -->` anywhere are notes for the template's readers and are removed; any other text
 *   before the first section is an error.
 * - At least one `## user` section, and the last section must be `## user` (the answer follows it).
 * - Placeholders `{name}`, filled once, in one pass (so exemplar text is never read as a placeholder):
 *   TEMPLATE_PLACEHOLDERS. `{exemplars}` must appear. A brace doubled on either side is literal text, so the
 *   template can show the marker format `{{like this}}`.
 */
export interface PromptTemplate {
  /** The file it came from (or the name given to `parsePromptTemplate`), for messages. */
  readonly source: string;
  readonly sections: readonly { readonly role: TemplateRole; readonly content: string }[];
}

export type TemplateRole = 'system' | 'user' | 'assistant';

/** What a template can refer to. */
export const TEMPLATE_PLACEHOLDERS = {
  exemplars: 'the marked exemplars as a numbered list, one per line ("1. ...")',
  sign: '`positive` or `negative`',
  direction: '"most positive" or "most negative": which activations the marked tokens have',
  count: 'how many exemplars the list holds',
  feature: 'the feature key, e.g. `mlp/12/4061`',
} as const;

export type TemplatePlaceholder = keyof typeof TEMPLATE_PLACEHOLDERS;

const SECTION = /^##[ \t]+(system|user|assistant)[ \t]*$/i;
/** `{name}` not part of `{{` or `}}`. */
const PLACEHOLDER = /(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})/g;

/** The shipped template, `configs/prompts/explainer.md` at the repository root. */
export function defaultPromptTemplatePath(): string {
  return fileURLToPath(new URL('../../../../configs/prompts/explainer.md', import.meta.url));
}

/**
 * Reads and checks a template file: `describe.promptTemplate` resolved against `baseDir` (the folder of the config
 * file that set it; default the current folder), or the shipped template when `path` is null.
 */
export async function loadPromptTemplate(
  path: string | null,
  options: { readonly baseDir?: string } = {},
): Promise<PromptTemplate> {
  const file = path === null ? defaultPromptTemplatePath() : resolve(options.baseDir ?? process.cwd(), path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    const what = path === null ? 'the shipped prompt template' : 'prompt template (describe.promptTemplate)';
    throw new ExpgenError(`${what} ${file} could not be read (${code}): check that the file exists and is readable`, {
      cause: error,
    });
  }
  return parsePromptTemplate(text, file);
}

/** Parses template text; `source` names it in error messages. */
export function parsePromptTemplate(text: string, source: string): PromptTemplate {
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
  const sections: { role: TemplateRole; line: number; lines: string[] }[] = [];
  stripped.split('\n').forEach((line, i) => {
    const heading = SECTION.exec(line);
    if (heading) {
      sections.push({ role: heading[1]!.toLowerCase() as TemplateRole, line: i + 1, lines: [] });
    } else if (sections.length > 0) {
      sections[sections.length - 1]!.lines.push(line);
    } else if (line.trim() !== '') {
      throw fail(
        `line ${i + 1} is text before the first section heading; start the template with "## system" or "## user" (notes go in <!-- comments -->)`,
      );
    }
  });
  if (!sections.some((s) => s.role === 'user'))
    throw fail('has no "## user" section; the exemplars are shown in a user message');
  const last = sections[sections.length - 1]!;
  if (last.role !== 'user')
    throw fail(
      `the last section (line ${last.line}) is "## ${last.role}"; the template must end with a "## user" section`,
    );
  let showsExemplars = false;
  const out = sections.map((section) => {
    const raw = section.lines.join('\n');
    const content = raw.trim();
    if (content === '') throw fail(`the "## ${section.role}" section on line ${section.line} is empty`);
    for (const match of raw.matchAll(PLACEHOLDER)) {
      const name = match[1]!;
      if (!Object.hasOwn(TEMPLATE_PLACEHOLDERS, name)) {
        const known = Object.keys(TEMPLATE_PLACEHOLDERS)
          .map((k) => `{${k}}`)
          .join(', ');
        const line = section.line + lineOf(raw, match.index);
        throw fail(
          `unknown placeholder {${name}} on line ${line} (in the "## ${section.role}" section); known placeholders: ${known}`,
        );
      }
      if (name === 'exemplars') showsExemplars = true;
    }
    return { role: section.role, content };
  });
  if (!showsExemplars) throw fail('never shows the exemplars: put {exemplars} in a "## user" section');
  return { source, sections: out };
}

/** Fills a template's placeholders (one pass: values are never searched for placeholders). */
export function renderPromptTemplate(
  template: PromptTemplate,
  values: Readonly<Record<TemplatePlaceholder, string>>,
): ChatMessage[] {
  return template.sections.map((section) => ({
    role: section.role,
    content: section.content.replace(PLACEHOLDER, (_match, name: string) => values[name as TemplatePlaceholder]),
  }));
}

/** The `{exemplars}` value: a numbered list, one exemplar per line. */
export function formatExemplarList(rendered: readonly string[]): string {
  return rendered.map((text, i) => `${i + 1}. ${text}`).join('\n');
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
