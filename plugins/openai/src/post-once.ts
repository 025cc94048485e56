import { classifyStatus, networkReason, parseRetryAfter, seconds } from './retry-policy.js';

/** How one HTTP request ended: a JSON body, or why not and whether trying again could help. */
export type Attempt =
  | { ok: true; json: unknown }
  | { ok: false; reason: string; severity: 'fatal' | 'rejected' | 'transient'; status?: number; retryAfterMs?: number };

export interface PostOnceRequest {
  readonly fetch: typeof fetch;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly payload: string;
  /** Limit for the whole exchange, body included. */
  readonly timeoutMs: number;
  /** The caller's abort: rethrown as is, never turned into a retryable failure. */
  readonly signal: AbortSignal | undefined;
  /** For a Retry-After given as an HTTP date. */
  readonly now: () => number;
  /** Masks credentials in anything quoted from the server or the network stack. */
  readonly redact: (text: string) => string;
}

/**
 * One POST with a time limit, classified: connection failures, timeouts, truncated and non-JSON bodies and
 * retryable statuses are `transient`; 401/403/404 are `fatal`; other refusals `rejected`. Never throws, except the
 * caller's own abort.
 */
export async function postOnce(request: PostOnceRequest): Promise<Attempt> {
  const { signal, redact } = request;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, request.timeoutMs);
  const onAbort = () => controller.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const failed = (error: unknown, stage: string): Attempt => {
    if (signal?.aborted) throw signal.reason;
    if (timedOut)
      return {
        ok: false,
        severity: 'transient',
        reason: `no complete answer within ${seconds(request.timeoutMs)} (timeoutMs)`,
      };
    return { ok: false, severity: 'transient', reason: `${stage} failed: ${redact(networkReason(error))}` };
  };
  try {
    let response: Response;
    try {
      response = await request.fetch(request.url, {
        method: 'POST',
        headers: request.headers,
        body: request.payload,
        signal: controller.signal,
      });
    } catch (error) {
      return failed(error, 'connection');
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      return failed(error, 'reading the body (truncated?)');
    }
    if (!response.ok) {
      const status = response.status;
      const retryAfterMs = parseRetryAfter(response.headers, request.now());
      return {
        ok: false,
        status,
        severity: classifyStatus(status),
        reason: `HTTP ${status}${text.trim() ? `: ${snippet(text, redact)}` : ''}`,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    }
    try {
      return { ok: true, json: JSON.parse(text) as unknown };
    } catch {
      return {
        ok: false,
        severity: 'transient',
        reason: `malformed JSON body (${text.length} characters: ${snippet(text, redact)})`,
      };
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Server text fit for a message: short, and with credentials (which some servers echo back) masked. */
function snippet(text: string, redact: (text: string) => string): string {
  const flat = redact(text).replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 297)}...` : flat;
}
