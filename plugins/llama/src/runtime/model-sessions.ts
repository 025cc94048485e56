import type { HookVariant, VariantSpec } from '../onnx/hook-variants.js';
import type { RunnableModel } from '../onnx/runnable-model.js';
import type { HostTensor } from './host-tensor.js';
import type { InferenceClient } from './inference-client.js';

/** A graph variant opened in the inference worker, counted while in use so it is never closed under a run. */
export interface OpenSession {
  readonly variant: HookVariant;
  readonly inputNames: ReadonlySet<string>;
  users: number;
  lastUsed: number;
}

/**
 * What the KV-cache passes (generation, prefix reuse) need of an open model: its graph facts, the worker, and
 * sessions by request shape. The subject model owns them; these passes borrow a session and give it back.
 */
export interface ModelSessions {
  readonly model: RunnableModel;
  readonly client: InferenceClient;
  /** The open session for a request shape (opened, and the least recently used closed, when needed). */
  acquire(spec: VariantSpec): Promise<OpenSession>;
  release(session: OpenSession): void;
  /** Zero-length past key/values for `batch` rows: the cache a pass starts from. */
  emptyCache(batch: number): Record<string, HostTensor>;
  /** A number no other pass of this model has used: names the tensors a pass keeps in the worker. */
  nextPassId(): number;
}
