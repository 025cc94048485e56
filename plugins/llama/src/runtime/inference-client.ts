import { Worker } from 'node:worker_threads';
import { ExpgenError } from '@expgen/contract';
import { transferables, type Feed, type HostTensor } from './host-tensor.js';
import type { SessionDescription, SessionSettings } from './onnx-session.js';
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';

type Pending = { resolve: (reply: WorkerReply & { ok: true }) => void; reject: (error: Error) => void };
type RequestBody = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

export interface RunOptions {
  /** Outputs to send back. */
  readonly fetch: readonly string[];
  /** Outputs to keep in the worker under the given handles. */
  readonly retain?: Readonly<Record<string, string>>;
  /** Handles to free after the run. */
  readonly releaseAfter?: readonly string[];
}

/**
 * The main thread's side of the inference worker: sends requests, matches replies, and turns worker failures into
 * ExpgenErrors. The worker does not keep the process alive while no request is in flight.
 */
export class InferenceClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | null = null;
  private disposed = false;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: WorkerReply) => this.settle(reply));
    worker.on('error', (error) =>
      this.fail(new ExpgenError(`the inference worker failed: ${error.message}`, { cause: error })),
    );
    worker.on('exit', (code) => {
      if (!this.disposed)
        this.fail(
          new ExpgenError(
            `the inference worker exited unexpectedly (code ${code}); the model may be too large for this machine's memory`,
          ),
        );
    });
    worker.unref();
  }

  static start(): InferenceClient {
    return new InferenceClient(new Worker(new URL('./inference-worker.js', import.meta.url)));
  }

  /** Throws the provider's ExpgenError (e.g. the CUDA provider is not installed) without loading a model. */
  async checkProvider(settings: SessionSettings): Promise<void> {
    await this.request({ kind: 'check-provider', settings });
  }

  async open(session: string, modelPath: string, settings: SessionSettings): Promise<SessionDescription> {
    const reply = await this.request({ kind: 'open', session, modelPath, settings });
    return reply.session!;
  }

  async run(
    session: string,
    feeds: Readonly<Record<string, Feed>>,
    options: RunOptions,
  ): Promise<Record<string, HostTensor>> {
    const reply = await this.request(
      { kind: 'run', session, feeds, fetch: options.fetch, retain: options.retain, releaseAfter: options.releaseAfter },
      transferables(Object.values(feeds)),
    );
    return reply.outputs ?? {};
  }

  async release(handles: readonly string[]): Promise<void> {
    if (handles.length > 0 && !this.disposed) await this.request({ kind: 'release', handles });
  }

  async close(session: string): Promise<void> {
    await this.request({ kind: 'close', session });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    try {
      if (this.failure === null) await this.request({ kind: 'dispose' });
    } finally {
      this.disposed = true;
      await this.worker.terminate();
      this.fail(new ExpgenError('the subject model was disposed while a request was running'));
    }
  }

  private request(body: RequestBody, transfer: ArrayBuffer[] = []): Promise<WorkerReply & { ok: true }> {
    if (this.disposed)
      return Promise.reject(new ExpgenError('the subject model was disposed; open it again to run it'));
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = this.nextId++;
    const promise = new Promise<WorkerReply & { ok: true }>((resolve, reject) =>
      this.pending.set(id, { resolve, reject }),
    );
    if (this.pending.size === 1) this.worker.ref();
    this.worker.postMessage({ ...body, id } as WorkerRequest, transfer);
    return promise;
  }

  private settle(reply: WorkerReply): void {
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if (reply.ok) pending.resolve(reply);
    else
      pending.reject(
        reply.error.expgen
          ? new ExpgenError(reply.error.message, { exitCode: reply.error.exitCode })
          : new Error(reply.error.message),
      );
  }

  private fail(error: Error): void {
    this.failure = error;
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}
