// Reading the bodies of successful answers: chat choices, completion choices and `usage`. A body that cannot be
// read at all (not an object, no choices) is a MalformedAnswer, which the client retries like a transport fault.

export interface ChatAnswer {
  readonly content: string | null;
  /** OpenAI's structured refusal (`message.refusal`), when the server sends one. */
  readonly refusal: string | null;
  readonly finishReason: string | null;
}

/** One choice of an answer asked for several (`n`): its message, or why it could not be read. */
export type ChatChoice = ChatAnswer | { readonly malformed: string };

/** The legacy completions API's logprobs block (`echo: true` puts the prompt's tokens in it too). */
export interface CompletionLogprobs {
  readonly tokens?: readonly string[];
  readonly token_logprobs?: readonly (number | null)[];
  readonly top_logprobs?: readonly (Readonly<Record<string, number>> | null)[];
  readonly text_offset?: readonly number[];
}

export interface CompletionAnswer {
  readonly text: string;
  readonly logprobs: CompletionLogprobs | null;
  readonly finishReason: string | null;
}

/** Tokens one answer reports in `usage`; `cachedPromptTokens` from `usage.prompt_tokens_details.cached_tokens`. */
export interface ReportedUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly cachedPromptTokens: number;
}

/** A 200 answer whose body cannot be read: retried like a truncated body. */
export class MalformedAnswer extends Error {}

/** The first choice's message (a server asked for one answer). */
export function readFirstChatChoice(json: unknown): ChatAnswer {
  const choice = readChatChoice(choicesOf(json)[0]);
  if ('malformed' in choice) throw new MalformedAnswer(`the first choice ${choice.malformed}`);
  return choice;
}

/**
 * Every choice, in `index` order when the server numbers them. A choice that cannot be read is returned as
 * `{ malformed }` rather than failing the whole answer: the others are good candidates, and only the bad one needs
 * asking again.
 */
export function readChatChoices(json: unknown): ChatChoice[] {
  const choices = choicesOf(json);
  const indexed = choices.every((c) => typeof (c as { index?: unknown } | null)?.index === 'number');
  const ordered = indexed
    ? [...choices].sort((a, b) => (a as { index: number }).index - (b as { index: number }).index)
    : choices;
  return ordered.map(readChatChoice);
}

export function readFirstCompletionChoice(json: unknown): CompletionAnswer {
  const choice = choicesOf(json)[0];
  if (typeof choice !== 'object' || choice === null) throw new MalformedAnswer('the first choice is not an object');
  const { logprobs, text, finish_reason } = choice as Record<string, unknown>;
  if (logprobs !== null && logprobs !== undefined && typeof logprobs !== 'object')
    throw new MalformedAnswer('choice.logprobs is not an object');
  return {
    text: typeof text === 'string' ? text : '',
    logprobs: (logprobs as CompletionLogprobs | null | undefined) ?? null,
    finishReason: typeof finish_reason === 'string' ? finish_reason : null,
  };
}

/** `usage` as the server reports it, or undefined when it leaves prompt tokens out. */
export function readUsage(json: unknown): ReportedUsage | undefined {
  const usage = (json as { usage?: Record<string, unknown> } | null)?.usage;
  const count = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
  const prompt = count(usage?.['prompt_tokens']);
  if (prompt === undefined) return undefined;
  const details = usage?.['prompt_tokens_details'] as { cached_tokens?: unknown } | null | undefined;
  return {
    promptTokens: prompt,
    completionTokens: count(usage?.['completion_tokens']) ?? 0,
    cachedPromptTokens: count(details?.cached_tokens) ?? 0,
  };
}

function choicesOf(json: unknown): unknown[] {
  const choices = (json as { choices?: unknown } | null)?.choices;
  if (!Array.isArray(choices) || choices.length === 0) throw new MalformedAnswer('the body has no choices');
  return choices;
}

function readChatChoice(choice: unknown): ChatChoice {
  if (typeof choice !== 'object' || choice === null) return { malformed: 'is not an object' };
  const { message, finish_reason } = choice as Record<string, unknown>;
  if (typeof message !== 'object' || message === null) return { malformed: 'has no message' };
  const { content, refusal } = message as Record<string, unknown>;
  if (content !== null && content !== undefined && typeof content !== 'string')
    return { malformed: 'has a message.content that is not a string' };
  return {
    content: typeof content === 'string' ? content : null,
    refusal: typeof refusal === 'string' && refusal !== '' ? refusal : null,
    finishReason: typeof finish_reason === 'string' ? finish_reason : null,
  };
}
