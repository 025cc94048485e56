import type { Logger } from '@expgen/contract';

/** How a sign's candidates are requested: all in one request with `n`, or one request each. */
export type CandidateRequests = 'n' | 'per-candidate';

/**
 * Whether the server honours the chat API's `n`, learned from its successful answers over a run. vLLM, SGLang and
 * OpenAI answer `n` choices; some servers answer one whatever was asked. The rule: the first fresh answer with two
 * or more choices to a request for several settles it (honoured, for the rest of the run); two fresh answers in a
 * row with one choice each, before that, settle it the other way (ignored: per-candidate requests from then on).
 * An answer with no choices at all never gets here: the client retries it like any malformed body. Answers from
 * the call cache are not evidence (a rerun answered by the cache sends nothing, whatever the server does).
 */
export class NSupport {
  #state: 'unknown' | 'honoured' | 'ignored';
  #oneChoiceInARow = 0;

  constructor(
    enabled: boolean,
    private readonly label: string,
    private readonly logger: Logger,
  ) {
    this.#state = enabled ? 'unknown' : 'ignored';
  }

  /** How the next request for several candidates is made. */
  get mode(): CandidateRequests {
    return this.#state === 'ignored' ? 'per-candidate' : 'n';
  }

  /** A fresh successful answer to a request that asked for `asked` choices carried `received`. */
  observe(asked: number, received: number): void {
    if (asked < 2 || this.#state !== 'unknown') return;
    if (received >= 2) {
      this.#state = 'honoured';
      return;
    }
    if (++this.#oneChoiceInARow < 2) return;
    this.#state = 'ignored';
    this.logger.warn(
      `${this.label}: the server answered two requests for several candidates ("n") with one choice each, so it ignores "n": ` +
        'sending one request per candidate for the rest of the run (recorded as candidateRequests "per-candidate" in describedBy); set useN: false to skip the detection',
    );
  }
}
