import { ExpgenError, SchemaError, s, type Infer, type KeyPath } from '@expgen/contract';

/** Environment variables read when the options leave a setting out. */
export const ENV = { baseUrl: 'OPENAI_BASE_URL', apiKey: 'OPENAI_API_KEY', model: 'OPENAI_MODEL' } as const;

/** `baseUrl: http://a/v1` or `baseUrl: [http://a/v1, http://b/v1]`: replicas of one model that share the load. */
const baseUrlSchema = s.custom<string[]>('a URL or a list of URLs', (value: unknown, path: KeyPath) => {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0)
    throw new SchemaError(path, 'a URL or a non-empty list of URLs', value);
  return list.map((item: unknown, i) => {
    const at = typeof value === 'string' ? path : [...path, i];
    if (typeof item !== 'string' || !isHttpUrl(item))
      throw new SchemaError(at, 'an http(s) URL such as http://localhost:8000/v1', item);
    return item;
  });
});

/**
 * A key in a config file would be saved beside every output with the resolved config, so the options take the
 * name of the environment variable that holds it; this schema only exists to say so when someone tries.
 */
const noLiteralKey = s.custom<undefined>(
  'nothing (name an environment variable with apiKeyEnv)',
  (value: unknown, path: KeyPath) => {
    if (value === undefined) return undefined;
    throw new SchemaError(
      path,
      'nothing',
      '(hidden)',
      'an API key is never read from the config, which is saved beside every output: put the key in an environment variable and name it with apiKeyEnv (default OPENAI_API_KEY)',
    );
  },
);

/** Options every OpenAI-compatible component shares: where the server is, how hard to push it, what to spend. */
export const clientOptionsShape = {
  baseUrl: baseUrlSchema
    .optional()
    .describe(
      `Base URL of the API (ending in /v1), or a list of replicas that share the load; default: $${ENV.baseUrl} (comma-separated for several).`,
    ),
  model: s
    .string({ nonEmpty: true })
    .optional()
    .describe(`Model name sent with every request; default: $${ENV.model}.`),
  apiKeyEnv: s
    .string({ nonEmpty: true })
    .default(ENV.apiKey)
    .describe('Environment variable holding the API key (sent as a Bearer token; never logged, cached or written).'),
  apiKey: noLiteralKey.optional(),
  concurrency: s
    .integer({ min: 1, max: 4096 })
    .default(16)
    .describe('Most requests in flight at once, over all base URLs.'),
  balance: s
    .enum(['least-in-flight', 'round-robin'] as const)
    .default('least-in-flight')
    .describe('How requests are spread over several base URLs.'),
  timeoutMs: s
    .integer({ min: 1 })
    .default(120_000)
    .describe('Per-request time limit, body included; a request past it is retried.'),
  requestRetries: s
    .integer({ min: 0, max: 100 })
    .default(5)
    .describe('Retries of one request after 429, 5xx, timeouts, connection resets and malformed or truncated bodies.'),
  backoffMs: s
    .integer({ min: 0 })
    .default(500)
    .describe('First retry delay; it doubles per retry, with jitter, up to maxBackoffMs.'),
  maxBackoffMs: s.integer({ min: 0 }).default(30_000).describe('Longest delay between retries (exponential backoff).'),
  maxRetryAfterMs: s
    .integer({ min: 0 })
    .default(300_000)
    .describe(
      'Longest Retry-After the client waits for; a server asking for more fails the request instead of stalling the run.',
    ),
  budget: s
    .object({
      maxCalls: s
        .integer({ min: 0 })
        .optional()
        .describe('Most HTTP requests this component may send in a run (retries count; cached answers do not).'),
      maxTokens: s
        .integer({ min: 0 })
        .optional()
        .describe("Most prompt + completion tokens (from the server's `usage`) this component may spend in a run."),
    })
    .describe(
      'Spending caps; when one is reached the run stops with an error saying what was used. Cached answers cost nothing.',
    ),
  extraBody: s
    .record(s.unknown())
    .default({})
    .describe('Extra fields merged into every request body (e.g. vLLM `top_k`); part of the cache key.'),
};

const clientOptionsSchema = s.object(clientOptionsShape);
export type ClientOptions = Infer<typeof clientOptionsSchema>;

export interface Connection {
  readonly baseUrls: readonly string[];
  readonly model: string;
  readonly apiKey: string | undefined;
}

/** Base URLs, model and key from the options, else the environment; an ExpgenError says which is missing. */
export function resolveConnection(
  options: Pick<ClientOptions, 'baseUrl' | 'model' | 'apiKeyEnv'>,
  env: Readonly<Record<string, string | undefined>>,
  where: string,
  { baseUrlRequired = true }: { baseUrlRequired?: boolean } = {},
): Connection {
  const fromEnv = (env[ENV.baseUrl] ?? '')
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  const baseUrls = (options.baseUrl ?? fromEnv).map((u) => u.replace(/\/+$/, ''));
  if (baseUrls.length === 0 && baseUrlRequired) {
    throw new ExpgenError(
      `${where}: no base URL: set options.baseUrl (e.g. http://localhost:8000/v1) or $${ENV.baseUrl}`,
    );
  }
  for (const url of baseUrls) {
    if (!isHttpUrl(url))
      throw new ExpgenError(
        `${where}: $${ENV.baseUrl} holds ${JSON.stringify(safeUrl(url))}, which is not an http(s) URL`,
      );
  }
  const model = options.model ?? env[ENV.model];
  if (!model)
    throw new ExpgenError(`${where}: no model: set options.model or $${ENV.model} to the name the server serves`);
  const apiKey = env[options.apiKeyEnv] || undefined;
  return { baseUrls, model, apiKey };
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** A URL fit for messages: credentials in its user-info part are masked. */
export function safeUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.username || url.password) {
      url.username = '***';
      url.password = '';
    }
    return url.toString().replace(/\/$/, '');
  } catch {
    return text.replace(/\/\/[^/@]*@/, '//***@');
  }
}
