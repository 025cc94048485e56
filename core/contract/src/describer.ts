import type { FeatureKey } from './feature-key.js';
import type { Provenance } from './provenance.js';
import type { Sign } from './sign.js';
import type { ChatMessage } from './tokenizer.js';

/** One exemplar shown to a describer: the subject's tokens and the feature's activation on each. */
export interface DescribedExemplar {
  readonly tokens: readonly number[];
  readonly activations: readonly number[];
  /** Rank among the sign's top exemplars of the train split (0 = strongest). */
  readonly rank: number;
}

export interface DescribeRequest {
  readonly feature: FeatureKey;
  readonly sign: Sign;
  /** The exemplars of the prompt, in the order shown. */
  readonly exemplars: readonly DescribedExemplar[];
  /** Activation above which (below which, for `negative`) tokens are marked in the prompt. */
  readonly threshold: number;
  /** The explainer prompt rendered from the template and the marked exemplars. */
  readonly messages: readonly ChatMessage[];
  /** How many candidates to sample. */
  readonly count: number;
  /** Candidate i is sampled with seed `seed + i`, so each candidate is reproducible on its own. */
  readonly seed: number;
}

export interface DescriptionCandidate {
  /** The text after the answer's last `[DESCRIPTION]:` marker, trimmed, verbatim. */
  readonly description: string;
  readonly seed: number;
  readonly describedBy: Provenance;
}

/** A candidate that could not be obtained; counted and reported, never replaced by placeholder text. */
export interface DescriptionFailure {
  readonly seed: number;
  readonly reason: 'refusal' | 'empty' | 'malformed' | 'error';
  readonly detail: string;
}

export interface DescribeResult {
  readonly candidates: readonly DescriptionCandidate[];
  readonly failures: readonly DescriptionFailure[];
  /** What obtaining the candidates cost; describers that call models report it, for the run's `cost` accounting. */
  readonly usage?: DescribeUsage;
}

/** The cost of one `describe` call, in hardware-independent units. */
export interface DescribeUsage {
  /** Prompt tokens sent (from the server's `usage` where it reports one, else counted with the local tokenizer). */
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Requests sent to a model (retries included); calls answered by the cache are not requests. */
  readonly calls: number;
  /** Of `promptTokens`, those the server reported as served from its prefix cache (counted apart, cheaper). */
  readonly cachedPromptTokens?: number;
  /** Calls answered by the durable call cache: no request, no tokens. */
  readonly cachedCalls?: number;
}

/** What a request would cost, for `--dry-run`: nothing is sent to get it. */
export interface CallEstimate {
  /** Requests that would be sent (answers already in the cache excluded). */
  readonly calls: number;
  /** Requests answered by the cache: free. */
  readonly cachedCalls: number;
  /** Prompt tokens of the requests to send (an estimate where the tokenizer is remote). */
  readonly promptTokens: number;
  /** Upper bound on their completion tokens. */
  readonly maxCompletionTokens: number;
}

/** An explainer: from marked exemplars to candidate descriptions. */
export interface Describer {
  readonly provenance: Provenance;
  describe(request: DescribeRequest): Promise<DescribeResult>;
  /** Prices a request without sending it; describers that call paid or shared servers provide it. */
  estimate?(request: DescribeRequest): Promise<CallEstimate>;
  dispose?(): Promise<void> | void;
}
