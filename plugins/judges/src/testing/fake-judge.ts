import { createHash } from 'node:crypto';
import type { FakeReply, FakeRequest } from '@expgen/plugin-openai/testing';
import { ANSWER_MARKER } from '../judge-prompt.js';

/** A judge prompt as a loopback server reads it back: the description and the excerpts, in order. */
export interface ReadPrompt {
  readonly description: string;
  readonly excerpts: readonly string[];
}

/**
 * Reads the shipped prompts' layout (`Feature description: ...`, then `Excerpts:` and one `n. text` line per
 * excerpt); undefined for a request that is not a judge prompt.
 */
export function readJudgePrompt(body: Readonly<Record<string, unknown>>): ReadPrompt | undefined {
  const messages = (body['messages'] ?? []) as { content?: unknown }[];
  const last = String(messages.at(-1)?.content ?? '');
  const description = /^Feature description: (.*)$/m.exec(last)?.[1];
  const list = last.split('\nExcerpts:\n')[1];
  if (description === undefined || list === undefined) return undefined;
  const excerpts: string[] = [];
  for (const line of list.split('\n')) {
    const item = /^(\d+)\. (.*)$/.exec(line);
    if (!item) break;
    excerpts.push(item[2]!);
  }
  return { description, excerpts };
}

/** How a fake judge answers each excerpt: true, false, or undefined for "cannot tell" (answered 0). */
export type Verdict = (prompt: ReadPrompt, excerpt: string, position: number) => boolean | undefined;

/** A `respond` for `startFakeOpenAIServer`: answers judge prompts with `verdict`, one answer line per choice of `n`. */
export function fakeJudge(verdict: Verdict): (request: FakeRequest) => FakeReply {
  return (request) => {
    const prompt = readJudgePrompt(request.body);
    if (!prompt) return { kind: 'answer' };
    const line = `${ANSWER_MARKER} [${prompt.excerpts.map((e, i) => (verdict(prompt, e, i) ? 1 : 0)).join(', ')}]`;
    const n = typeof request.body['n'] === 'number' ? request.body['n'] : 1;
    return { kind: 'choices', choices: Array.from({ length: n }, () => `Checked each excerpt.\n${line}`) };
  };
}

/**
 * A judge that answers at random: a coin per (description, excerpt, seed) from a hash, so a rerun answers the same.
 */
export function coinJudge(): (request: FakeRequest) => FakeReply {
  return (request) =>
    fakeJudge((prompt, excerpt) => {
      const digest = createHash('sha256')
        .update(`${prompt.description}\n${excerpt}\n${String(request.body['seed'])}`)
        .digest();
      return (digest[0]! & 1) === 1;
    })(request);
}

/** A judge whose every answer has no readable list. */
export function garbledJudge(): (request: FakeRequest) => FakeReply {
  return (request) =>
    readJudgePrompt(request.body)
      ? { kind: 'chat', content: 'These excerpts are all about the same thing, I think. [ANSWER]: mostly yes' }
      : { kind: 'answer' };
}
