import { parentPort, workerData } from 'node:worker_threads';
import { ExemplarLibrary } from '../exemplars/exemplar-library.js';
import { finishFeature, type FinishTask } from './feature-finish.js';
import { ScoringSequenceReader } from './scoring-sequences.js';

/**
 * Entry of a stage 3 host worker thread (`HostWorkers`): reads the exemplars itself, finishes the feature-signs it
 * is sent and answers each with its result, the resampled sums transferred rather than copied.
 */
const { exemplarsDir, finishedBy, index } = workerData as {
  exemplarsDir: string;
  finishedBy: Int32Array;
  index: number;
};
const reader = new ScoringSequenceReader(ExemplarLibrary.open(exemplarsDir));

/** Resampled-sums buffers the main thread has finished with, to fill again. */
const buffers: Float64Array[] = [];

parentPort!.on('message', (message: { id: number; task: FinishTask } | { release: Float64Array }) => {
  if ('release' in message) {
    buffers.push(message.release);
    return;
  }
  // Counted as finished once only the detail file's fsync is left: the thread is free for the next task.
  let counted = false;
  const count = () => {
    if (!counted) Atomics.add(finishedBy, index, 1);
    counted = true;
  };
  finishFeature(message.task, reader, buffers, count).then(
    (result) => {
      count();
      const transfer = result.test?.resampled ? [result.test.resampled.sums.buffer as ArrayBuffer] : [];
      parentPort!.postMessage({ id: message.id, result }, transfer);
    },
    (error: unknown) => {
      count();
      parentPort!.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) });
    },
  );
});
