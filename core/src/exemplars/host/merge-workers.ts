import { Worker } from 'node:worker_threads';
import { ExpgenError } from '@expgen/contract';
import type { Packed } from './mailbox.js';
import type { LayerWork, MergeTargetHandles } from './merge-range.js';
import type { FromMergeWorker, ToMergeWorker } from './merge-worker.js';

/** One worker's share of a batch: feature ranges of some layers. */
export interface WorkerShare {
  readonly key: string;
  readonly from: number;
  readonly to: number;
  readonly work: Packed<LayerWork>;
}

interface Pending {
  resolve(reply: { retains: Float64Array; releases: Float64Array }): void;
  reject(error: Error): void;
}

/**
 * The merge worker threads of stage 1's host side (`exemplars.workers`). Each attaches to the states in shared
 * memory and merges the feature ranges it is sent; the main thread waits for all of them before it touches the
 * states again (thresholds, checkpoints, files), so no state is ever read while a worker writes it.
 */
export class MergeWorkers {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;
  private closing = false;

  private constructor(private readonly workers: readonly Worker[]) {
    for (const worker of workers) {
      worker.on('message', (reply: FromMergeWorker) => {
        const pending = this.pending.get(reply.id);
        if (!pending) return;
        this.pending.delete(reply.id);
        if ('error' in reply) pending.reject(reply.expgen ? new ExpgenError(reply.error) : new Error(reply.error));
        else pending.resolve(reply);
      });
      const fail = (error: Error) => {
        this.failure ??= new Error(`a stage 1 merge worker failed: ${error.message}`, { cause: error });
        for (const pending of this.pending.values()) pending.reject(this.failure);
        this.pending.clear();
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (!this.closing) fail(new Error(`it exited with code ${code}`));
      });
    }
  }

  static start(count: number): MergeWorkers {
    return new MergeWorkers(
      Array.from({ length: count }, () => new Worker(new URL('./merge-worker.js', import.meta.url))),
    );
  }

  get size(): number {
    return this.workers.length;
  }

  /** Gives every worker the states of one (split, layer), under `key`. */
  attach(key: string, handles: MergeTargetHandles): void {
    this.post({ type: 'attach', key, handles });
  }

  /** Lets the workers drop the states of a finished layer group. */
  detachAll(): void {
    this.post({ type: 'detach-all' });
  }

  /** Sends each worker its share of a batch (views of `buffer`); resolves with every worker's tally. */
  merge(
    buffer: SharedArrayBuffer,
    shares: readonly (readonly WorkerShare[])[],
  ): Promise<{ retains: Float64Array; releases: Float64Array }[]> {
    if (this.failure) return Promise.reject(this.failure);
    return Promise.all(
      this.workers.map(
        (worker, w) =>
          new Promise<{ retains: Float64Array; releases: Float64Array }>((resolve, reject) => {
            const id = this.nextId++;
            this.pending.set(id, { resolve, reject });
            worker.postMessage({ type: 'merge', id, buffer, layers: shares[w] ?? [] } satisfies ToMergeWorker);
          }),
      ),
    );
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  private post(message: ToMergeWorker): void {
    for (const worker of this.workers) worker.postMessage(message);
  }
}
