import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SLOT } from '../simulation-prompt.js';

/** One request as the fake server saw it. */
export interface FakeRequest {
  /** Arrival order, from 0. */
  readonly index: number;
  readonly path: string;
  /** The parsed JSON body ({} when it was not JSON). */
  readonly body: Readonly<Record<string, unknown>>;
  readonly authorization: string | undefined;
}

/** What to do with one request. */
export type FakeReply =
  /** The server's normal answer for the path (see `startFakeOpenAIServer`). */
  | { readonly kind: 'answer' }
  /** A chat completion with this content (null content with `refusal` = OpenAI's structured refusal). */
  | { readonly kind: 'chat'; readonly content: string | null; readonly refusal?: string }
  /** A chat completion with one choice per entry, whatever `n` asked for (a string is the content). */
  | { readonly kind: 'choices'; readonly choices: readonly FakeChoice[] }
  /** 200 with `choices: []`: a successful status with nothing in it. */
  | { readonly kind: 'empty-choices' }
  /** Any JSON body with any status. */
  | { readonly kind: 'json'; readonly body: unknown; readonly status?: number }
  /** An error status, e.g. 429 with `{ 'retry-after': '2' }`. */
  | {
      readonly kind: 'status';
      readonly status: number;
      readonly body?: string;
      readonly headers?: Readonly<Record<string, string>>;
    }
  /** No answer at all: the request hangs until the client gives up or the server closes. */
  | { readonly kind: 'stall' }
  /** Headers and half the body, then nothing. */
  | { readonly kind: 'stall-body' }
  /** 200 with a body that is not JSON. */
  | { readonly kind: 'malformed' }
  /** 200 whose Content-Length promises more than is sent before the connection is cut. */
  | { readonly kind: 'truncated' }
  /** The connection is destroyed before any answer. */
  | { readonly kind: 'reset' };

/** One choice of a scripted answer: content, or OpenAI's structured refusal, or a choice without a message. */
export type FakeChoice = string | null | { readonly refusal: string } | { readonly malformed: true };

export interface FakeServerOptions {
  /** Delay before each reply, in milliseconds. */
  readonly latencyMs?: number;
  /** Chooses each request's reply (default: always `answer`). */
  readonly respond?: (request: FakeRequest) => FakeReply | Promise<FakeReply>;
  /** When set, a request without `Authorization: Bearer <apiKey>` gets 401 with a body that echoes the header. */
  readonly apiKey?: string;
  /**
   * How /completions treats `echo` with `logprobs`: true (default) returns prompt logprobs as vLLM does; false
   * returns logprobs of the generated token only (as llama.cpp does); 'reject' answers HTTP 400.
   */
  readonly promptLogprobs?: boolean | 'reject';
  /** Top logprobs served at each slot of a simulation prompt (default `fakeBinLogprobs`). */
  readonly binLogprobs?: (slot: FakeSlot) => Record<string, number>;
  /** Whether answers carry `usage` (default true). */
  readonly usage?: boolean;
  /**
   * How chat completions treat `n`: `honour` (default; as vLLM, SGLang and OpenAI do) answers n choices, choice j
   * sampled as with seed `seed + j` (vLLM's rule for a seeded request); `ignore` (as some servers do) answers one.
   */
  readonly n?: 'honour' | 'ignore';
  /**
   * Report the prompt tokens of a prompt already answered once as served from the prefix cache
   * (`usage.prompt_tokens_details.cached_tokens`), as vLLM with prefix caching and OpenAI do.
   */
  readonly prefixCache?: boolean;
}

/** One activation slot of a simulation prompt, as the fake server reads it back. */
export interface FakeSlot {
  readonly description: string;
  /** The token text shown on the slot's line. */
  readonly token: string;
  /** Slot number in the prompt, from 0. */
  readonly index: number;
}

export interface FakeOpenAIServer {
  /** Base URL, e.g. `http://127.0.0.1:40123/v1`. */
  readonly url: string;
  /** Every request received, in arrival order. */
  readonly requests: FakeRequest[];
  /** Requests being answered now, and the most there ever were at once. */
  readonly inFlight: number;
  readonly maxInFlight: number;
  close(): Promise<void>;
}

/**
 * A `respond` for a flaky server: one request in `every`, by arrival order (requests every-1, 2*every-1, ...), gets
 * a fault — in turn a 429 with `Retry-After: retryAfterSeconds`, a 500, a truncated body, a connection reset and a
 * 200 with no choices — and every other request the normal answer.
 */
export function mixedFaults(every = 4, retryAfterSeconds = 1): (request: FakeRequest) => FakeReply {
  const faults: readonly FakeReply[] = [
    { kind: 'status', status: 429, headers: { 'retry-after': String(retryAfterSeconds) } },
    { kind: 'status', status: 500 },
    { kind: 'truncated' },
    { kind: 'reset' },
    { kind: 'empty-choices' },
  ];
  return (request) =>
    request.index % every === every - 1
      ? faults[Math.floor(request.index / every) % faults.length]!
      : { kind: 'answer' };
}

/** The description the fake explainer gives for a conversation and seed: distinct per seed, stable per prompt. */
export function fakeDescription(messages: unknown, seed: unknown): string {
  const digest = createHash('sha256').update(JSON.stringify(messages)).digest('hex').slice(0, 8);
  return `fake feature ${digest}, sample ${String(seed)}`;
}

/**
 * Default top logprobs at a slot: a token the description names (in its words) gets most mass on 10, any other on
 * 0; one non-bin token takes some mass, so a reader has to renormalise over the bins.
 */
export function fakeBinLogprobs(slot: FakeSlot): Record<string, number> {
  const word = slot.token.trim().toLowerCase();
  const named = word !== '' && /\w/.test(word) && slot.description.toLowerCase().split(/\W+/).includes(word);
  return named
    ? { '10': Math.log(0.7), '9': Math.log(0.2), '0': Math.log(0.1) }
    : { '0': Math.log(0.8), '1': Math.log(0.15), [SLOT]: Math.log(0.05) };
}

/**
 * A loopback OpenAI-compatible server for tests, listening on 127.0.0.1 on a free port. Its normal answers:
 * `/chat/completions` answers `... [DESCRIPTION]: <fakeDescription(messages, seed)>`, or, for a simulator's
 * generate prompt, the JSON list of 10s on tokens the description names and 0s elsewhere; `/completions` with
 * `echo` and `logprobs` echoes the prompt split into words, spaces and symbols, with `fakeBinLogprobs` at every slot.
 * `respond` injects faults per request.
 */
export async function startFakeOpenAIServer(options: FakeServerOptions = {}): Promise<FakeOpenAIServer> {
  const requests: FakeRequest[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const server = createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.once('close', () => inFlight--);
    void handle(req, res).catch(() => res.destroy());
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Recorded on arrival, so a request the client abandons before its body is read still counts.
    const request = {
      index: requests.length,
      path: req.url ?? '/',
      body: {} as Record<string, unknown>,
      authorization: req.headers.authorization,
    };
    requests.push(request);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    try {
      request.body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      // not JSON: left as {}
    }
    if (options.latencyMs) await new Promise((resolve) => setTimeout(resolve, options.latencyMs));
    if (options.apiKey !== undefined && request.authorization !== `Bearer ${options.apiKey}`) {
      // Some servers quote the rejected key back; clients must not pass it on.
      return send(res, 401, {
        error: {
          message: `Incorrect API key provided: ${request.authorization ?? '(none)'}`,
          type: 'invalid_request_error',
        },
      });
    }
    const { body } = request;
    const reply = (await options.respond?.(request)) ?? { kind: 'answer' };
    switch (reply.kind) {
      case 'answer':
        return answer(request, res);
      case 'chat':
        return send(res, 200, chatBody(body, [reply.refusal ? { refusal: reply.refusal } : reply.content]));
      case 'choices':
        return send(res, 200, chatBody(body, reply.choices));
      case 'empty-choices':
        return send(res, 200, chatBody(body, []));
      case 'json':
        return send(res, reply.status ?? 200, reply.body);
      case 'status':
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        res.end(reply.body ?? JSON.stringify({ error: { message: `injected HTTP ${reply.status}` } }));
        return;
      case 'stall':
        return; // held open; the client's timeout or the server's close ends it
      case 'stall-body': {
        const text = JSON.stringify(chatBody(body, ['never finished']));
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.write(text.slice(0, text.length >> 1));
        return;
      }
      case 'malformed':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"id": "cmpl-1", "choices": [{"message": {"content": "[DESCRIPTION]: cut');
        return;
      case 'truncated': {
        const text = JSON.stringify(chatBody(body, ['[DESCRIPTION]: never arrives whole']));
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.write(text.slice(0, text.length >> 1), () => res.destroy());
        return;
      }
      case 'reset':
        req.socket.destroy();
        return;
    }
  }

  function answer(request: FakeRequest, res: ServerResponse): void {
    const { body } = request;
    if (request.path.endsWith('/chat/completions')) {
      const messages = (body['messages'] ?? []) as { content?: unknown }[];
      const last = String(messages.at(-1)?.content ?? '');
      const generate = /Answer with only a JSON list of (\d+) integers/.exec(last);
      if (generate) {
        send(res, 200, chatBody(body, [JSON.stringify(generatedActivations(last))]));
        return;
      }
      const asked = typeof body['n'] === 'number' && options.n !== 'ignore' ? Math.max(1, body['n']) : 1;
      const seed = typeof body['seed'] === 'number' ? body['seed'] : undefined;
      const choices = Array.from(
        { length: asked },
        (_, j) =>
          `Looking at the highlighted tokens.\n[DESCRIPTION]: ${fakeDescription(messages, seed === undefined ? seed : seed + j)}`,
      );
      send(res, 200, chatBody(body, choices));
      return;
    }
    if (request.path.endsWith('/completions')) {
      if (body['echo'] && body['logprobs'] && options.promptLogprobs === 'reject') {
        send(res, 400, {
          error: { message: 'echo is not supported with logprobs', type: 'invalid_request_error' },
        });
        return;
      }
      send(res, 200, completionBody(body));
      return;
    }
    send(res, 404, { error: { message: `no route ${request.path}` } });
  }

  const promptsSeen = new Set<string>();
  function usageOf(prompt: string, completion: string) {
    if (options.usage === false) return {};
    const promptTokens = Math.ceil(prompt.length / 4);
    const completionTokens = Math.ceil(completion.length / 4);
    const cached = options.prefixCache === true && promptsSeen.has(prompt);
    promptsSeen.add(prompt);
    return {
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
        ...(options.prefixCache ? { prompt_tokens_details: { cached_tokens: cached ? promptTokens : 0 } } : {}),
      },
    };
  }

  function chatBody(body: Record<string, unknown>, choices: readonly FakeChoice[]) {
    return {
      id: 'chatcmpl-fake',
      object: 'chat.completion',
      model: body['model'],
      choices: choices.map((choice, index) =>
        choice !== null && typeof choice === 'object' && 'malformed' in choice
          ? { index, finish_reason: 'stop' }
          : {
              index,
              message: {
                role: 'assistant',
                ...(choice !== null && typeof choice === 'object'
                  ? { content: null, refusal: choice.refusal }
                  : { content: choice }),
              },
              finish_reason: 'stop',
            },
      ),
      ...usageOf(
        JSON.stringify(body['messages'] ?? ''),
        choices.map((c) => (typeof c === 'string' ? c : c === null ? '' : 'refusal' in c ? c.refusal : '')).join(''),
      ),
    };
  }

  function completionBody(body: Record<string, unknown>) {
    const prompt = String(body['prompt'] ?? '');
    const generated = Number(body['max_tokens'] ?? 16) > 0 ? ['0'] : [];
    const wantLogprobs = typeof body['logprobs'] === 'number' && body['logprobs'] > 0;
    const echoed = Boolean(body['echo']) && options.promptLogprobs !== false;
    let logprobs: unknown = null;
    if (wantLogprobs) {
      const promptTokens = echoed ? splitTokens(prompt) : [];
      const tokens = [...promptTokens, ...generated];
      const offsets: number[] = [];
      let at = 0;
      for (const t of tokens) {
        offsets.push(at);
        at += t.length;
      }
      const slots = slotPositions(prompt, promptTokens, offsets);
      logprobs = {
        tokens,
        token_logprobs: tokens.map((_, k) => (k === 0 && echoed ? null : -1)),
        top_logprobs: tokens.map((t, k) =>
          k === 0 && echoed
            ? null
            : slots.has(k)
              ? (options.binLogprobs ?? fakeBinLogprobs)(slots.get(k)!)
              : { [t]: -1, ' the': -2.5 },
        ),
        text_offset: offsets,
      };
    }
    const text = `${body['echo'] ? prompt : ''}${generated.join('')}`;
    return {
      id: 'cmpl-fake',
      object: 'text_completion',
      model: body['model'],
      choices: [{ index: 0, text, logprobs, finish_reason: 'length' }],
      ...usageOf(prompt, generated.join('')),
    };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Words, single whitespace characters and single symbols: "unknown" after a tab is always its own token. */
function splitTokens(text: string): string[] {
  return text.match(/[A-Za-z]+|\d+|\s|[^A-Za-z\d\s]/g) ?? [];
}

/** Positions of slot tokens (the slot word right after a tab, in the last <start> block), with what they stand for. */
function slotPositions(prompt: string, tokens: readonly string[], offsets: readonly number[]): Map<number, FakeSlot> {
  const slots = new Map<number, FakeSlot>();
  const block = prompt.lastIndexOf('<start>\n');
  if (block < 0) return slots;
  const description = /Feature description: (.*)\n/g;
  let match: RegExpExecArray | null;
  let last = '';
  while ((match = description.exec(prompt)) && match.index < block) last = match[1]!;
  let index = 0;
  tokens.forEach((t, k) => {
    const at = offsets[k]!;
    if (t !== SLOT || at < block || prompt[at - 1] !== '\t') return;
    const lineStart = prompt.lastIndexOf('\n', at) + 1;
    slots.set(k, { description: last, token: prompt.slice(lineStart, at - 1), index: index++ });
  });
  return slots;
}

/** The fake simulator's list for a generate prompt: 10 on tokens the description names, 0 elsewhere. */
function generatedActivations(prompt: string): number[] {
  const description = /Feature description: (.*)\n/.exec(prompt)?.[1] ?? '';
  const listing = prompt.split('Tokens (index, tab, token):\n')[1]?.split('\n\nAnswer with only')[0] ?? '';
  return listing.split('\n').map((line) => {
    const token = line.slice(line.indexOf('\t') + 1);
    return fakeBinLogprobs({ description, token, index: 0 })['10'] !== undefined ? 10 : 0;
  });
}
