// Entry of the worker thread that owns the ONNX Runtime sessions: `session.run` blocks the thread it runs on, so
// inference lives here and the main thread stays free for bookkeeping (top-k merges, writing results).
import { parentPort } from 'node:worker_threads';
import { isExpgenError } from '@expgen/contract';
import { isRetainedRef, transferables, type HostTensor } from './host-tensor.js';
import {
  checkProviderInstalled,
  OnnxSession,
  toHostTensor,
  type OrtValue,
  type SessionDescription,
} from './onnx-session.js';
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';

if (parentPort === null) throw new Error('inference-worker.js must be started as a worker thread');
const port = parentPort;

const sessions = new Map<string, OnnxSession>();
const retained = new Map<string, OrtValue>();

async function handle(request: WorkerRequest): Promise<WorkerReply> {
  switch (request.kind) {
    case 'check-provider':
      checkProviderInstalled(request.settings.provider);
      return { id: request.id, ok: true };
    case 'open': {
      const previous = sessions.get(request.session);
      if (previous) return { id: request.id, ok: true, session: describe(previous) };
      const session = await OnnxSession.create(request.modelPath, request.settings);
      sessions.set(request.session, session);
      return { id: request.id, ok: true, session: describe(session) };
    }
    case 'run': {
      const session = sessions.get(request.session);
      if (!session) throw new Error(`session ${request.session} is not open in the inference worker`);
      const feeds: Record<string, HostTensor | OrtValue> = {};
      for (const [name, feed] of Object.entries(request.feeds)) {
        if (isRetainedRef(feed)) {
          const value = retained.get(feed.retained);
          if (!value) throw new Error(`retained tensor ${feed.retained} (feed ${name}) was released or never kept`);
          feeds[name] = value;
        } else {
          feeds[name] = feed;
        }
      }
      const keep = request.retain ?? {};
      const wanted = [...new Set([...request.fetch, ...Object.keys(keep)])];
      const results = await session.run(feeds, wanted);
      for (const handle of request.releaseAfter ?? []) retained.delete(handle);
      for (const [output, handle] of Object.entries(keep)) retained.set(handle, results[output]!);
      const outputs: Record<string, HostTensor> = {};
      for (const name of request.fetch) outputs[name] = toHostTensor(results[name]!, name in keep);
      return { id: request.id, ok: true, outputs };
    }
    case 'release':
      for (const handle of request.handles) retained.delete(handle);
      return { id: request.id, ok: true };
    case 'close': {
      const session = sessions.get(request.session);
      sessions.delete(request.session);
      await session?.release();
      return { id: request.id, ok: true };
    }
    case 'dispose':
      retained.clear();
      for (const session of sessions.values()) await session.release();
      sessions.clear();
      return { id: request.id, ok: true };
  }
}

function describe(session: OnnxSession): SessionDescription {
  return { inputNames: [...session.inputNames], outputNames: [...session.outputNames], provider: session.provider };
}

// Requests are handled one at a time, in order: ONNX Runtime sessions are used from this one thread.
let queue: Promise<void> = Promise.resolve();
port.on('message', (request: WorkerRequest) => {
  queue = queue.then(async () => {
    let reply: WorkerReply;
    try {
      reply = await handle(request);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      reply = {
        id: request.id,
        ok: false,
        error: { message, expgen: isExpgenError(error), exitCode: isExpgenError(error) ? error.exitCode : undefined },
      };
    }
    const outputs = reply.ok && reply.outputs ? Object.values(reply.outputs) : [];
    port.postMessage(reply, transferables(outputs));
  });
});
