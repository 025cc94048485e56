import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExpgenError, type ChatMessage, type JudgeRequest, type Tokenizer } from '@expgen/contract';
import {
  escapeDisplayText,
  fillChatTemplate,
  parseChatTemplate,
  renderMarkedTokens,
  type ChatTemplate,
} from '@expgen/plugin-kit';
import type { ShownSequence } from './sequence-draw.js';

/** What a judge prompt template can refer to. */
export const JUDGE_PLACEHOLDERS = {
  description: 'the description judged',
  examples: 'the excerpts as a numbered list, one per line ("1. ...")',
  count: 'how many excerpts the list holds',
} as const;

/** The prompt shipped with the plugin for a task: `prompts/<task>.md`. */
export function shippedTemplatePath(task: 'detection' | 'fuzzing'): string {
  return fileURLToPath(new URL(`../prompts/${task}.md`, import.meta.url));
}

/**
 * Reads and checks a judge prompt template: `path` resolved against `baseDir` (the folder of the config file that
 * set it), or the shipped one when `path` is null. Same format as the explainer's (`describe.promptTemplate`).
 */
export async function loadJudgeTemplate(
  task: 'detection' | 'fuzzing',
  path: string | null,
  baseDir: string,
): Promise<ChatTemplate> {
  const file = path === null ? shippedTemplatePath(task) : resolve(baseDir, path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ExpgenError(
      `${path === null ? `the shipped ${task} prompt` : `prompt template (options.promptTemplate of the ${task} scorer)`} ${file} could not be read (${code}): check that the file exists and is readable`,
    );
  }
  return parseChatTemplate(text, file, {
    placeholders: JUDGE_PLACEHOLDERS,
    required: {
      description: 'never shows the description: put {description} in a "## user" section',
      examples: 'never shows the excerpts: put {examples} in a "## user" section',
    },
  });
}

/**
 * One excerpt as the judge reads it: the sequence from its first counted token, data escaped so it never acts as a
 * control token or forges a marker, line breaks shown as `\n`, and (fuzzing) the marked tokens in `{{...}}`.
 */
export function excerptText(shown: ShownSequence, request: JudgeRequest, tokenizer: Tokenizer): string {
  const sequence = request.sequences[shown.list][shown.index]!;
  const marks = shown.marks ?? new Array<boolean>(sequence.tokens.length).fill(false);
  return renderMarkedTokens(sequence.tokens, marks, { tokenizer, countFrom: sequence.countFrom }).text;
}

/**
 * The description as a prompt shows it: on one line, and escaped like data, since a description is a model's text
 * and must not close the prompt's structure or act as a control token.
 */
export function descriptionLine(description: string, tokenizer: Tokenizer): string {
  return escapeDisplayText(description.replace(/[\r\n]+/g, ' '), tokenizer);
}

/** The messages of one prompt: a batch of excerpts under the description. */
export function judgeMessages(
  template: ChatTemplate,
  description: string,
  excerpts: readonly string[],
  tokenizer: Tokenizer,
): ChatMessage[] {
  return fillChatTemplate(template, {
    description: descriptionLine(description, tokenizer),
    examples: excerpts.map((text, i) => `${i + 1}. ${text}`).join('\n'),
    count: String(excerpts.length),
  });
}

/** The marker the answer line starts with. */
export const ANSWER_MARKER = '[ANSWER]:';

export type ParsedJudgeAnswer =
  | { readonly ok: true; readonly answers: readonly boolean[] }
  | { readonly ok: false; readonly reason: string };

const YES = new Set(['1', 'yes', 'true', 'y']);
const NO = new Set(['0', 'no', 'false', 'n']);

/**
 * Reads a judge's answer for `count` excerpts: the list after the answer's last `[ANSWER]:` marker (matched
 * case-insensitively), or, without a marker, the last bracketed list in the answer. Each value is 1 or 0 (also
 * yes/no, true/false, quoted or not). Anything else — no list, a list of another length, a value that is neither —
 * is a reason, never a guess: the caller asks again, then records a failure.
 */
export function parseJudgeAnswer(text: string, count: number): ParsedJudgeAnswer {
  const at = text.toUpperCase().lastIndexOf(ANSWER_MARKER);
  const tail = at >= 0 ? text.slice(at + ANSWER_MARKER.length) : null;
  const list = tail !== null ? /\[([^\][]*)\]/.exec(tail)?.[1] : [...text.matchAll(/\[([^\][]*)\]/g)].at(-1)?.[1];
  if (list === undefined)
    return {
      ok: false,
      reason: at >= 0 ? `no [...] list after ${ANSWER_MARKER}` : `no ${ANSWER_MARKER} line and no [...] list`,
    };
  const items = list
    .split(/[,\s]+/)
    .map((item) => item.replace(/^["'`]+|["'`]+$/g, '').toLowerCase())
    .filter((item) => item !== '');
  if (items.length !== count)
    return { ok: false, reason: `${items.length} value${items.length === 1 ? '' : 's'} for ${count} excerpts` };
  const answers: boolean[] = [];
  for (const [i, item] of items.entries()) {
    if (YES.has(item)) answers.push(true);
    else if (NO.has(item)) answers.push(false);
    else return { ok: false, reason: `value ${i + 1} is ${JSON.stringify(item.slice(0, 20))}, not 1 or 0` };
  }
  return { ok: true, answers };
}
