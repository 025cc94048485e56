import { ExpgenError } from '@expgen/contract';
import {
  baseGraphDigest,
  ensureHookVariant,
  variantKey,
  type HookVariant,
  type VariantSpec,
} from '../onnx/hook-variants.js';
import { DataType } from '../onnx/onnx-proto.js';
import type { RunnableModel } from '../onnx/runnable-model.js';
import { float32Tensor, type HostTensor } from './host-tensor.js';
import type { InferenceClient } from './inference-client.js';
import type { ModelSessions, OpenSession } from './model-sessions.js';
import type { SessionSettings } from './onnx-session.js';

/**
 * The ONNX Runtime sessions of one model, by request shape: each distinct shape gets its graph variant (built once,
 * cached beside the model) opened in the inference worker, at most `maxOpen` at a time — each session holds its own
 * copy of the weights — closing the least recently used one that no pass is using.
 */
export class SessionPool implements ModelSessions {
  private readonly sessions = new Map<string, Promise<OpenSession>>();
  private readonly variants = new Map<string, Promise<HookVariant>>();
  private baseDigest: Promise<string> | null = null;
  private useClock = 0;
  private passes = 0;
  private closed = false;

  constructor(
    readonly model: RunnableModel,
    readonly client: InferenceClient,
    private readonly settings: SessionSettings,
    private readonly maxOpen: number,
  ) {}

  /** The open session for a request shape, opening it (and closing the least recently used) when needed. */
  async acquire(spec: VariantSpec): Promise<OpenSession> {
    if (this.closed) throw new ExpgenError('the subject model was disposed; open it again to run it');
    const variant = await this.variantFor(spec);
    let pending = this.sessions.get(variant.key);
    if (pending === undefined) {
      await this.evictFor(1);
      pending = this.client
        .open(variant.key, variant.path, this.settings)
        .then((description) => ({ variant, inputNames: new Set(description.inputNames), users: 0, lastUsed: 0 }));
      pending.catch(() => this.sessions.delete(variant.key));
      this.sessions.set(variant.key, pending);
    }
    const session = await pending;
    session.users++;
    session.lastUsed = ++this.useClock;
    return session;
  }

  release(session: OpenSession): void {
    session.users--;
  }

  /** Zero-length past key/values for `batch` rows, for `inputs` (default: every cache input). */
  emptyCache(
    batch: number,
    inputs: readonly string[] = this.model.kvPairs.map((p) => p.past),
  ): Record<string, HostTensor> {
    const { heads, headDim } = this.model.kvShape;
    const half = this.model.kvElemType === DataType.FLOAT16;
    const feeds: Record<string, HostTensor> = {};
    for (const input of inputs) {
      feeds[input] = half
        ? { type: 'float16', dims: [batch, heads, 0, headDim], data: new Uint16Array(0) }
        : float32Tensor(new Float32Array(0), [batch, heads, 0, headDim]);
    }
    return feeds;
  }

  nextPassId(): number {
    return ++this.passes;
  }

  /** Refuses further passes; the worker that holds the sessions is disposed by the owner. */
  close(): void {
    this.closed = true;
  }

  private variantFor(spec: VariantSpec): Promise<HookVariant> {
    this.baseDigest ??= baseGraphDigest(this.model.base);
    return this.baseDigest.then((digest) => {
      const key = variantKey(digest, spec);
      let variant = this.variants.get(key);
      if (variant === undefined) {
        variant = ensureHookVariant(this.model.base, digest, spec);
        variant.catch(() => this.variants.delete(key));
        this.variants.set(key, variant);
      }
      return variant;
    });
  }

  private async evictFor(incoming: number): Promise<void> {
    while (this.sessions.size + incoming > this.maxOpen) {
      let oldest: { key: string; session: OpenSession } | null = null;
      for (const [key, pending] of this.sessions) {
        const session = await pending.catch(() => null);
        if (session === null || session.users > 0) continue;
        if (oldest === null || session.lastUsed < oldest.session.lastUsed) oldest = { key, session };
      }
      if (oldest === null) return; // every open session is in use: go over the limit rather than wait
      this.sessions.delete(oldest.key);
      await this.client.close(oldest.key);
    }
  }
}
