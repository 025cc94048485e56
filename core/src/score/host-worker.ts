import { parentPort } from 'node:worker_threads';
import { finishFeature, type FinishTask } from './feature-finish.js';

/**
 * Entry of a stage 3 host worker thread (`HostWorkers`): finishes the feature-signs it is sent and answers each
 * with its result, the resampled sums transferred rather than copied.
 */
parentPort!.on('message', (message: { id: number; task: FinishTask }) => {
  finishFeature(message.task).then(
    (result) => {
      const transfer = result.test?.resampled ? [result.test.resampled.sums.buffer as ArrayBuffer] : [];
      parentPort!.postMessage({ id: message.id, result }, transfer);
    },
    (error: unknown) => {
      parentPort!.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) });
    },
  );
});
