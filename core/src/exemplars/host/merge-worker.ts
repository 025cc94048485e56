// A merge worker thread (started by MergeWorkers): it attaches to the states of the current layer group in shared
// memory and merges the feature ranges it is given, tallying the references it adds and removes.
import { parentPort } from 'node:worker_threads';
import { isExpgenError } from '@expgen/contract';
import { ReferenceTally } from '../state/reference-tally.js';
import { type Packed, unpack } from './mailbox.js';
import {
  attachTarget,
  mergeLayerRange,
  type LayerWork,
  type MergeTarget,
  type MergeTargetHandles,
} from './merge-range.js';

/** Messages from the main thread. */
export type ToMergeWorker =
  | { readonly type: 'attach'; readonly key: string; readonly handles: MergeTargetHandles }
  | { readonly type: 'detach-all' }
  | {
      readonly type: 'merge';
      readonly id: number;
      readonly buffer: SharedArrayBuffer;
      readonly layers: readonly {
        readonly key: string;
        readonly from: number;
        readonly to: number;
        readonly work: Packed<LayerWork>;
      }[];
    };

/** Replies: the tally of a merge, or why it failed. */
export type FromMergeWorker =
  | { readonly id: number; readonly retains: Float64Array; readonly releases: Float64Array }
  | { readonly id: number; readonly error: string; readonly expgen: boolean };

const port = parentPort;
if (port) {
  const targets = new Map<string, MergeTarget>();
  port.on('message', (message: ToMergeWorker) => {
    if (message.type === 'attach') {
      targets.set(message.key, attachTarget(message.handles));
      return;
    }
    if (message.type === 'detach-all') {
      targets.clear();
      return;
    }
    try {
      const tally = new ReferenceTally();
      for (const layer of message.layers) {
        const target = targets.get(layer.key);
        if (!target) throw new Error(`merge worker: no states attached for ${layer.key}`);
        mergeLayerRange(target, unpack<LayerWork>(message.buffer, layer.work), layer.from, layer.to, tally);
      }
      const { retains, releases } = tally.toArrays();
      port.postMessage({ id: message.id, retains, releases } satisfies FromMergeWorker, [
        retains.buffer as ArrayBuffer,
        releases.buffer as ArrayBuffer,
      ]);
    } catch (error) {
      port.postMessage({
        id: message.id,
        error: (error as Error).message,
        expgen: isExpgenError(error),
      } satisfies FromMergeWorker);
    }
  });
}
