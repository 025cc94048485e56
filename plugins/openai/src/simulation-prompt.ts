import type { ChatMessage, Tokenizer } from '@expgen/contract';
import type { CompletionLogprobs } from './chat-client.js';

/** Bumped whenever a prompt or the readout changes; part of every cache key and of the provenance. */
export const SIMULATION_PROMPT_VERSION = 1;

/** The word standing in for each activation the model is asked to predict (as in OpenAI's all-at-once simulator). */
export const SLOT = 'unknown';

/**
 * One subject token as the simulator reads it: decoded alone with the subject's tokenizer, with the line format's
 * separators escaped, and with `<|` broken up so that data never spells a control token of the simulator's own
 * tokenizer (servers parse special-token strings inside prompts).
 */
export function tokenText(tokenizer: Tokenizer, id: number): string {
  return tokenizer
    .decode([id])
    .replace(/\\/g, '\\\\')
    .replace(/\t/g, '\\t')
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n')
    .replace(/<\|/g, '<\u200b|');
}

const TASK =
  'We are studying features of a language model. Each feature fires on particular tokens of a text. Read the description ' +
  'of what a feature responds to, then predict its activation on every token, from 0 (does not fire) to 10 (fires at ' +
  'its strongest); most activations are 0.';
const INSTRUCTIONS = `${TASK} Each line is a token, a tab, and the activation; "${SLOT}" marks an activation to predict.`;

const EXAMPLE = {
  description: 'words for cats, such as "cat" and "kitten"',
  lines: [
    ['The', 0],
    [' kitten', 10],
    [' slept', 0],
    [' next', 0],
    [' to', 0],
    [' the', 0],
    [' cat', 9],
    ['.', 0],
  ] as const,
};

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * The all-at-once prompt: one worked example, then the description and every token followed by a tab and the
 * slot word. With `echo` and `logprobs`, the server's top logprobs at each slot's position are the model's
 * distribution over what goes there: the activation bins "0".."10". `slots[t]` is the character offset of token
 * t's slot in `prompt`.
 */
export function logprobPrompt(description: string, tokens: readonly string[]): { prompt: string; slots: number[] } {
  let prompt = `${INSTRUCTIONS}\n\nFeature description: ${EXAMPLE.description}\nActivations:\n<start>\n`;
  for (const [token, activation] of EXAMPLE.lines) prompt += `${token}\t${activation}\n`;
  prompt += `<end>\n\nFeature description: ${oneLine(description)}\nActivations:\n<start>\n`;
  const slots: number[] = [];
  for (const token of tokens) {
    prompt += `${token}\t`;
    slots.push(prompt.length);
    prompt += `${SLOT}\n`;
  }
  prompt += '<end>\n';
  return { prompt, slots };
}

/**
 * Expected activation bin from one position's top logprobs: the probability mass of the tokens that read as
 * "0".."10" (surrounding whitespace ignored, so a token that merged the tab also counts), renormalised over the
 * bins found. Null when no bin is among the top logprobs.
 */
export function expectedBin(top: Readonly<Record<string, number>> | null | undefined): number | null {
  if (!top) return null;
  let mass = 0;
  let weighted = 0;
  for (const [token, logprob] of Object.entries(top)) {
    const text = token.trim();
    if (!/^(?:10|[0-9])$/.test(text) || typeof logprob !== 'number' || !Number.isFinite(logprob)) continue;
    const p = Math.exp(logprob);
    mass += p;
    weighted += p * Number(text);
  }
  return mass > 0 ? weighted / mass : null;
}

/**
 * The expected bin at every slot of an echoed prompt. A slot is read at the prompt token that covers its first
 * character (by `text_offset`, or by summing token lengths when the server leaves offsets out). Slots whose top
 * logprobs hold no bin are counted in `missing` and predicted 0; a response without prompt logprobs throws.
 */
export function readSlots(
  logprobs: CompletionLogprobs | null,
  slots: readonly number[],
): { values: number[]; missing: number } {
  const top = logprobs?.top_logprobs;
  if (!logprobs || !Array.isArray(top) || top.length < 2)
    throw new Error('the answer carries no prompt logprobs (echo with logprobs)');
  const offsets = logprobs.text_offset ?? cumulativeOffsets(logprobs.tokens);
  if (!offsets || offsets.length !== top.length)
    throw new Error('the answer has no usable token offsets (text_offset or tokens)');
  let missing = 0;
  let k = 0;
  const values = slots.map((slot) => {
    // Slots ascend, so one forward sweep finds the covering token of each.
    while (k + 1 < offsets.length && offsets[k + 1]! <= slot) k++;
    const value = expectedBin(top[k]);
    if (value === null) {
      missing++;
      return 0;
    }
    return value;
  });
  return { values, missing };
}

function cumulativeOffsets(tokens: readonly string[] | undefined): number[] | undefined {
  if (!tokens) return undefined;
  let at = 0;
  return tokens.map((t) => {
    const start = at;
    at += t.length;
    return start;
  });
}

/** The generate-mode conversation: the numbered tokens, and a request for a JSON list of integer activations. */
export function generateMessages(description: string, tokens: readonly string[]): ChatMessage[] {
  const listing = tokens.map((t, i) => `${i}\t${t}`).join('\n');
  return [
    { role: 'system', content: TASK },
    {
      role: 'user',
      content:
        `Feature description: ${oneLine(description)}\n\nTokens (index, tab, token):\n${listing}\n\n` +
        `Answer with only a JSON list of ${tokens.length} integers from 0 to 10: the activation on each token, in order.`,
    },
  ];
}

/** The last JSON list in a generate-mode answer, if it holds exactly `length` numbers in [0, 10]. */
export function parseActivationList(
  content: string | null,
  length: number,
): { ok: true; values: number[] } | { ok: false; detail: string } {
  const text = content ?? '';
  const lists = text.match(/\[[^[\]]*\]/g);
  if (!lists) return { ok: false, detail: `no JSON list in the answer: ${JSON.stringify(text.slice(0, 120))}` };
  let values: unknown;
  try {
    values = JSON.parse(lists.at(-1)!);
  } catch {
    return { ok: false, detail: `the last list is not JSON: ${JSON.stringify(lists.at(-1)!.slice(0, 120))}` };
  }
  if (!Array.isArray(values) || values.length !== length) {
    return {
      ok: false,
      detail: `expected ${length} activations, found ${Array.isArray(values) ? values.length : 'no list'}`,
    };
  }
  if (!values.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 10)) {
    return { ok: false, detail: 'the list holds values that are not numbers from 0 to 10' };
  }
  return { ok: true, values: values as number[] };
}
