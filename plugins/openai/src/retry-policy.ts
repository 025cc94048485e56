// Which failures of an OpenAI-compatible request are worth retrying, and how long to wait before the next try.

/** 429, 5xx (but 501/505) and a few others are worth retrying; 401/403/404 mean the setup is wrong. */
export function classifyStatus(status: number): 'fatal' | 'rejected' | 'transient' {
  if (
    status === 408 ||
    status === 409 ||
    status === 425 ||
    status === 429 ||
    (status >= 500 && status !== 501 && status !== 505)
  )
    return 'transient';
  if (status === 401 || status === 403 || status === 404) return 'fatal';
  return 'rejected';
}

/** Milliseconds to wait from `retry-after-ms` or `Retry-After` (seconds, or an HTTP date relative to `now`). */
export function parseRetryAfter(headers: { get(name: string): string | null }, now: number): number | undefined {
  const ms = headers.get('retry-after-ms')?.trim();
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Math.ceil(Number(ms));
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Exponential backoff with jitter (half fixed, half random), never shorter than the server's Retry-After:
 * `random` is uniform in [0, 1).
 */
export function backoffDelay(
  retry: number,
  retryAfterMs: number | undefined,
  settings: { readonly backoffMs: number; readonly maxBackoffMs: number },
  random: () => number,
): number {
  const ceiling = Math.min(settings.maxBackoffMs, settings.backoffMs * 2 ** retry);
  const jittered = ceiling / 2 + (random() * ceiling) / 2;
  return Math.round(Math.max(jittered, retryAfterMs ?? 0));
}

/** A timer that an abort signal cancels (the default `sleep` between retries). */
export const realSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** What a failed fetch says, with the system error code (ECONNRESET, ...) when Node gives one. */
export function networkReason(error: unknown): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } } | undefined;
  const cause = e?.cause;
  const text =
    cause?.message && cause.message !== e?.message ? `${e?.message}: ${cause.message}` : (e?.message ?? String(error));
  return cause?.code ? `${text} (${cause.code})` : text;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 0)} s`;
}
