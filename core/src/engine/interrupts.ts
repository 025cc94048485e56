import { removeTemporaries } from '@expgen/plugin-kit';

/**
 * What happens when a run is interrupted: Ctrl-C (SIGINT) at a terminal, or SIGTERM from a scheduler (Slurm sends
 * it before preempting or at the time limit, `kill` sends it by default). Both go through `handleInterrupt`: the
 * cleanups registered with `onInterrupt` run (a run folder's lock is released), every temporary file still
 * registered with plugin-kit's `trackTemporary` is removed (no `*.tmp-*` is left behind), one line says how to go
 * on, and the process ends by the same signal with its default action, so a shell sees 128 + the signal's number
 * (130, 143) and a script running expgen stops too. Ending by the signal, rather than `process.exit`, skips the
 * teardown of worker threads, which aborts the process when a worker is inside ONNX Runtime's `session.run`.
 * Everything a run finished is on disk already (checkpoints, journals, atomically renamed files), so running the
 * same command again resumes.
 *
 * Handlers run between tasks of the event loop, so a synchronous write in progress finishes first; only the
 * asynchronous writers' temporaries can be caught half-way, and those are the registered ones. A second signal
 * while the cleanups run ends the process at once (after removing the temporaries).
 */
export type InterruptSignal = 'SIGINT' | 'SIGTERM';

/** Work before an interrupted process exits. Keep it short: the user (or the scheduler's grace period) waits. */
export type InterruptCleanup = (signal: InterruptSignal) => void | Promise<void>;

const EXIT_CODES: Record<InterruptSignal, number> = { SIGINT: 130, SIGTERM: 143 };
const DEFAULT_HINT = 'run the same command again to resume where it stopped';
/** How long asynchronous cleanups may take before the process exits anyway. */
const CLEANUP_GRACE_MS = 5000;

interface InterruptIo {
  /** Writes the final line (standard error; synchronous for files, terminals and, on Linux, pipes). */
  write(text: string): void;
  /** Ends the process: by `signal`'s default action, else with `code`. */
  end(signal: InterruptSignal, code: number): void;
}

const state = {
  cleanups: [] as InterruptCleanup[],
  hint: DEFAULT_HINT,
  installed: false,
  interrupted: null as InterruptSignal | null,
  io: {
    write: (text: string) => process.stderr.write(text),
    end: endBySignal,
  } as InterruptIo,
};

/** Registers a cleanup; the returned function unregisters it (call it when the resource is released normally). */
export function onInterrupt(cleanup: InterruptCleanup): () => void {
  state.cleanups.push(cleanup);
  return () => {
    state.cleanups = state.cleanups.filter((c) => c !== cleanup);
  };
}

/**
 * Says what the user does after an interrupt, for commands where "resume" is not the word: an import or a merge
 * that writes into a scratch folder starts over. Returns the function that restores the previous hint.
 */
export function setInterruptHint(hint: string): () => void {
  const previous = state.hint;
  state.hint = hint;
  return () => {
    state.hint = previous;
  };
}

/** Routes SIGINT and SIGTERM to `handleInterrupt`, once per process (every command calls it). */
export function installInterruptHandlers(): void {
  if (state.installed) return;
  state.installed = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void handleInterrupt(signal));
}

/** The one place an interrupt is handled, whichever signal brought it. */
export async function handleInterrupt(signal: InterruptSignal): Promise<void> {
  const code = EXIT_CODES[signal];
  if (state.interrupted) {
    removeTemporaries();
    state.io.end(signal, code);
    return;
  }
  state.interrupted = signal;
  const cleanups = [...state.cleanups].reverse();
  state.cleanups = [];
  const pending: Promise<unknown>[] = [];
  for (const cleanup of cleanups) {
    try {
      const result = cleanup(signal);
      if (result) pending.push(result.catch(() => undefined));
    } catch {
      // The process is ending: one failed cleanup must not keep the others (or the exit) from happening.
    }
  }
  if (pending.length > 0) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(pending),
      new Promise((resolve) => {
        timer = setTimeout(resolve, CLEANUP_GRACE_MS);
      }),
    ]);
    clearTimeout(timer);
  }
  removeTemporaries();
  // A progress bar may be drawn on the current terminal line: start a fresh one.
  state.io.write(`${process.stderr.isTTY ? '\n' : ''}expgen: interrupted by ${signal}; ${state.hint}\n`);
  state.io.end(signal, code);
}

/** Whether an interrupt is being handled: errors the interrupted work throws meanwhile are not worth a line. */
export function interrupted(): boolean {
  return state.interrupted !== null;
}

function endBySignal(signal: InterruptSignal, code: number): void {
  // Without listeners, Node stops handling the signal and its default action (ending the process) is back.
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
  // Delivery is immediate; should the signal be blocked or ignored all the same, exit as a shell would report it.
  setTimeout(() => process.exit(code), 1000).unref();
}

/** Test hook: where the line goes and how the process ends; resets the handled state. */
export function interruptTestHooks(io: InterruptIo): () => void {
  const previous = state.io;
  state.io = io;
  state.interrupted = null;
  return () => {
    state.io = previous;
    state.interrupted = null;
    state.cleanups = [];
    state.hint = DEFAULT_HINT;
  };
}

let lastYield = 0;

/**
 * Lets a pending Ctrl-C be handled. Signals reach JavaScript only when the event loop turns, and a stage loop whose
 * awaits all resolve at once (baseline components, answers from the call cache) never lets it turn: Ctrl-C would
 * wait for the stage to end. Stages await this once per item; it yields to the event loop at most every 50 ms, so
 * it costs nothing measurable.
 */
export async function yieldToSignals(): Promise<void> {
  const now = performance.now();
  if (now - lastYield < 50) return;
  lastYield = now;
  await new Promise<void>((resolve) => setImmediate(resolve));
}
