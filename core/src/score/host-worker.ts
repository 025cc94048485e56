import { parentPort, workerData } from 'node:worker_threads';
import { ExemplarLibrary } from '../exemplars/exemplar-library.js';
import { finishFeature, type FinishTask } from './feature-finish.js';
import { ScoringSequenceReader } from './scoring-sequences.js';

/**
 * Entry of a stage 3 host worker thread (`HostWorkers`): reads the exemplars itself, finishes the feature-signs it
 * is sent and answers each with its result, the resampled sums transferred rather than copied.
 */
const { exemplarsDir } = workerData as { exemplarsDir: string };
const reader = new ScoringSequenceReader(ExemplarLibrary.open(exemplarsDir));

/** Resampled-sums buffers the main thread has finished with, to fill again. */
const buffers: Float64Array[] = [];

parentPort!.on('message', (message: { id: number; task: FinishTask } | { release: Float64Array }) => {
  if ('release' in message) {
    buffers.push(message.release);
    return;
  }
  finishFeature(message.task, reader, buffers).then(
    (result) => {
      const transfer = result.test?.resampled ? [result.test.resampled.sums.buffer as ArrayBuffer] : [];
      parentPort!.postMessage({ id: message.id, result }, transfer);
    },
    (error: unknown) => {
      parentPort!.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) });
    },
  );
});
