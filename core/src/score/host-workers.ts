import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ExemplarLibrary } from '../exemplars/exemplar-library.js';
import { finishFeature, type FinishResult, type FinishTask } from './feature-finish.js';
import type { ScoringSequenceReader } from './scoring-sequences.js';

/**
 * Tasks a worker may have in hand before the calling thread finishes the next one itself: enough to keep it busy
 * through the calling thread's pauses (a task is about a millisecond of work).
 */
const WORKER_BACKLOG = 8;

/**
 * Stage 3's host work spread over worker threads: each feature-sign's statistics and detail file
 * (`finishFeature`) go to the thread with the fewest tasks in hand; the threads read the exemplar files
 * themselves, so only the simulations cross. With one thread the work runs inline on the
 * main thread, through the same function, so every concurrency gives byte-identical output; with more, the main
 * thread finishes a task itself whenever every worker has a backlog.
 */
export class HostWorkers {
  private readonly pending = new Map<number, { resolve: (r: FinishResult) => void; reject: (e: Error) => void }>();
  /** Which thread finished a result's buffer, so it goes back there; inline: buffers kept here. */
  private readonly owner = new WeakMap<Float64Array, number>();
  private readonly inlineBuffers: Float64Array[] = [];
  /** Tasks sent to each worker. */
  private readonly sent: number[];
  private nextId = 0;

  private constructor(
    private readonly workers: readonly Worker[],
    /**
     * Tasks each worker has computed (only their detail file's fsync left), counted by the worker itself: the
     * calling thread sees a worker's backlog without waiting for its answers, which reach it only when its event
     * loop turns (every few milliseconds).
     */
    private readonly finishedBy: Int32Array,
    private readonly reader: ScoringSequenceReader,
  ) {
    this.sent = workers.map(() => 0);
    workers.forEach((worker, w) => {
      worker.on('message', (message: { id: number; result?: FinishResult; error?: string }) => {
        const waiter = this.pending.get(message.id);
        if (!waiter) return;
        this.pending.delete(message.id);
        if (message.error !== undefined) waiter.reject(new Error(`stage 3 host worker: ${message.error}`));
        else {
          const sums = message.result!.test?.resampled?.sums;
          if (sums) this.owner.set(sums, w);
          waiter.resolve(message.result!);
        }
      });
      worker.on('error', (error) => this.failAll(error));
    });
  }

  /**
   * Host work on `threads` threads in all (null: the machine's cores): the calling thread, which simulates, and
   * `threads - 1` workers, each reading the exemplars of `library` itself; 1 means everything inline on the calling
   * thread, reading through `reader`.
   */
  static start(threads: number | null, library: ExemplarLibrary, reader: ScoringSequenceReader): HostWorkers {
    const count = threads ?? availableParallelism();
    if (count <= 1) return new HostWorkers([], new Int32Array(0), reader);
    const finishedBy = new Int32Array(new SharedArrayBuffer(4 * (count - 1)));
    return new HostWorkers(
      Array.from(
        { length: count - 1 },
        (_, index) =>
          new Worker(new URL('./host-worker.js', import.meta.url), {
            workerData: { exemplarsDir: library.dir, finishedBy, index },
          }),
      ),
      finishedBy,
      reader,
    );
  }

  /** Threads doing the work (0: inline). */
  get threads(): number {
    return this.workers.length;
  }

  finish(task: FinishTask): Promise<FinishResult> {
    if (this.workers.length === 0) return this.finishInline(task);
    let w = 0;
    let backlog = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.workers.length; i++) {
      const inHand = this.sent[i]! - Atomics.load(this.finishedBy, i);
      if (inHand < backlog) [w, backlog] = [i, inHand];
    }
    // Every worker has a backlog: the calling thread, which would otherwise wait for them, takes this one. With a
    // light simulator the workers are the bottleneck and this balances the cores; with a heavy one the calling
    // thread is, the workers keep up and it never does. Any thread gives the same result.
    if (backlog >= WORKER_BACKLOG) return this.finishInline(task);
    const id = this.nextId++;
    this.sent[w]!++;
    // The simulations move to the worker instead of being copied, unless this thread still reads them (a scorer
    // without `valueFromMoments` is evaluated here).
    const { selection, simulated, report } = task.simulations;
    const transfer = task.resampleMoments
      ? [selection.buffer, simulated.buffer, ...(report ? [report.buffer] : [])].filter(
          (b): b is ArrayBuffer => b instanceof ArrayBuffer,
        )
      : [];
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[w]!.postMessage({ id, task }, transfer);
    });
  }

  /** Gives a result's resampled-sums buffer back for reuse, once the caller has read it. */
  release(sums: Float64Array): void {
    const w = this.owner.get(sums);
    if (w === undefined) this.inlineBuffers.push(sums);
    else this.workers[w]!.postMessage({ release: sums }, [sums.buffer as ArrayBuffer]);
  }

  private finishInline(task: FinishTask): Promise<FinishResult> {
    return finishFeature(task, this.reader, this.inlineBuffers);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.failAll(new Error('stage 3 host workers closed'));
  }

  private failAll(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}
