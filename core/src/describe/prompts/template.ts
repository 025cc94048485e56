import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExpgenError, type ChatMessage } from '@expgen/contract';
import { fillChatTemplate, parseChatTemplate, type ChatTemplate, type ChatTemplateRole } from '@expgen/plugin-kit';

/**
 * An explainer prompt template (`@expgen/plugin-kit`'s `ChatTemplate`, parsed here with the explainer's placeholders).
 * The file format (see README.md beside this file):
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
export type PromptTemplate = ChatTemplate;

export type TemplateRole = ChatTemplateRole;

/** What a template can refer to. */
export const TEMPLATE_PLACEHOLDERS = {
  exemplars: 'the marked exemplars as a numbered list, one per line ("1. ...")',
  sign: '`positive` or `negative`',
  direction: '"most positive" or "most negative": which activations the marked tokens have',
  count: 'how many exemplars the list holds',
  feature: 'the feature key, e.g. `mlp/12/4061`',
} as const;

export type TemplatePlaceholder = keyof typeof TEMPLATE_PLACEHOLDERS;

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
  return parseChatTemplate(text, source, {
    placeholders: TEMPLATE_PLACEHOLDERS,
    required: { exemplars: 'never shows the exemplars: put {exemplars} in a "## user" section' },
  });
}

/** Fills a template's placeholders (one pass: values are never searched for placeholders). */
export function renderPromptTemplate(
  template: PromptTemplate,
  values: Readonly<Record<TemplatePlaceholder, string>>,
): ChatMessage[] {
  return fillChatTemplate(template, values);
}

/** The `{exemplars}` value: a numbered list, one exemplar per line. */
export function formatExemplarList(rendered: readonly string[]): string {
  return rendered.map((text, i) => `${i + 1}. ${text}`).join('\n');
}
