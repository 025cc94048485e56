import { setMaxListeners } from 'node:events';
import { ExpgenError } from '@expgen/contract';
import { removeTemporaries } from '@expgen/plugin-kit';

/**
 * What happens when a run is interrupted: Ctrl-C (SIGINT) at a terminal, or SIGTERM from a scheduler (Slurm sends
 * it before preempting or at the time limit, Kubernetes on eviction, `kill` by default). Both go through
 * `handleInterrupt`, so Ctrl-C and a scheduler's stop behave alike and are changed in one place:
 *
 * - The run's `interruptSignal()` aborts, with an `Interrupt` as its reason.
 * - While work that saves its state is running (`watchInterrupts().checkpointing`: stage 1 writes a checkpoint),
 *   that work stops by itself and ends the command with `stoppedError`'s line; nothing else happens here.
 * - Otherwise the cleanups registered with `onInterrupt` run (a run folder's lock is released), every temporary file
 *   still registered with plugin-kit's `trackTemporary` is removed (no `*.tmp-*` is left behind), one line says how
 *   to go on, and the process ends by the same signal with its default action, so a shell sees 128 + the signal's
 *   number (130, 143) and a script running expgen stops too. Ending by the signal, rather than `process.exit`, skips
 *   the teardown of worker threads, which aborts the process when a worker is inside ONNX Runtime's `session.run`.
 *   Everything a run finished is on disk already (checkpoints, journals, atomically renamed files), so running the
 *   same command again resumes.
 * - A second signal ends the process at once (after removing the temporaries); a checkpoint being written is renamed
 *   into place only when whole, so the previous one still serves.
 *
 * Handlers run between tasks of the event loop, so a synchronous write in progress finishes first; only the
 * asynchronous writers' temporaries can be caught half-way, and those are the registered ones.
 */
export type InterruptSignal = 'SIGINT' | 'SIGTERM';
export const INTERRUPT_SIGNALS: readonly InterruptSignal[] = ['SIGTERM', 'SIGINT'];

/** Work before an interrupted process exits. Keep it short: the user (or the scheduler's grace period) waits. */
export type InterruptCleanup = (signal: InterruptSignal) => void | Promise<void>;

/** Exit codes by the shell's convention, 128 + the signal's number, so schedulers and scripts see what happened. */
const EXIT_CODES: Record<InterruptSignal, number> = { SIGINT: 130, SIGTERM: 143 };
const DEFAULT_HINT = 'run the same command again to resume where it stopped';
/** How long asynchronous cleanups may take before the process exits anyway. */
const CLEANUP_GRACE_MS = 5000;

/** The reason the run's signal is aborted with. */
export class Interrupt extends Error {
  constructor(readonly signalName: InterruptSignal) {
    super(`interrupted by ${signalName}`);
    this.name = 'Interrupt';
  }
}

interface InterruptIo {
  /** Writes a line (standard error; synchronous for files, terminals and, on Linux, pipes). */
  write(text: string): void;
  /** Ends the process: by `signal`'s default action, else with `code`. */
  end(signal: InterruptSignal, code: number): void;
}

const state = {
  cleanups: [] as InterruptCleanup[],
  hint: DEFAULT_HINT,
  installed: false,
  /** The first signal received; set once. */
  interrupted: null as InterruptSignal | null,
  /** Whether this module is ending the process (so errors of work cut short are not worth a line). */
  ending: false,
  /** Pieces of work that save their state when the run's signal aborts. */
  checkpointing: 0,
  controller: runController(),
  io: {
    write: (text: string) => process.stderr.write(text),
    end: endBySignal,
  } as InterruptIo,
};

/**
 * The controller of the run's signal. Every model request waiting for a slot of its client listens to the signal
 * (a judge scorer keeps hundreds waiting), so the listener count is not capped.
 */
function runController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/** Aborted, with an `Interrupt` as its reason, on the first SIGTERM or SIGINT. */
export function interruptSignal(): AbortSignal {
  return state.controller.signal;
}

/** The one line a stopped run ends with: what was kept, and that the same command resumes. */
export function stoppedError(signal: AbortSignal, kept: string): ExpgenError {
  const name = signal.reason instanceof Interrupt ? signal.reason.signalName : 'SIGTERM';
  return new ExpgenError(`interrupted by ${name}: ${kept}; ${DEFAULT_HINT}`, {
    exitCode: EXIT_CODES[name],
  });
}

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
  for (const signal of INTERRUPT_SIGNALS) process.on(signal, () => void handleInterrupt(signal));
}

/** How a command's run reacts to SIGTERM and SIGINT while it is watched. */
export interface Interrupts {
  /** Aborted, with an `Interrupt` as its reason, on the first SIGTERM or SIGINT. */
  readonly signal: AbortSignal;
  /**
   * Awaits work, started with `signal`, that stops by itself when `signal` aborts and must be given the time to
   * save its state (stage 1 writes a checkpoint, then throws `stoppedError`). Outside such work an interrupt ends
   * the process at once: stages 2 and 3 journal every finished item with synchronous writes, which a signal handler
   * never splits, so there is nothing to save. If `work` ends normally after an interrupt (it was past its last
   * check), the run stops right after, saying `kept`. (Pass the work's promise as soon as it is made: a signal
   * handler runs only between event-loop turns, so none can come in between.)
   */
  checkpointing<T>(work: Promise<T>, kept: string): Promise<T>;
  /** The command is over (the handlers stay: they serve the whole process). */
  dispose(): void;
}

/** Watches SIGTERM and SIGINT for one command (installing the process's handlers if no one did). */
export function watchInterrupts(): Interrupts {
  installInterruptHandlers();
  return {
    signal: state.controller.signal,
    async checkpointing<T>(work: Promise<T>, kept: string): Promise<T> {
      state.checkpointing++;
      let result: T;
      try {
        result = await work;
      } finally {
        state.checkpointing--;
      }
      if (state.controller.signal.aborted) throw stoppedError(state.controller.signal, kept);
      return result;
    },
    dispose() {},
  };
}

/** The one place an interrupt is handled, whichever signal brought it. */
export async function handleInterrupt(signal: InterruptSignal): Promise<void> {
  const code = EXIT_CODES[signal];
  if (state.interrupted) {
    removeTemporaries();
    state.io.write(`expgen: ${signal} again: stopping now; the last checkpoint and every journaled item are kept\n`);
    state.io.end(signal, code);
    return;
  }
  state.interrupted = signal;
  state.controller.abort(new Interrupt(signal));
  if (state.checkpointing > 0) {
    // The work saves its state and ends the command with its own line (`stoppedError`); the command's `finally`
    // blocks release what it holds.
    state.io.write(
      `${process.stderr.isTTY ? '\n' : ''}expgen: ${signal} received: saving a checkpoint, then stopping (send it again to stop at once)\n`,
    );
    return;
  }
  state.ending = true;
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

/** Whether this module is ending the process: errors the interrupted work throws meanwhile are not worth a line. */
export function interrupted(): boolean {
  return state.ending;
}

function endBySignal(signal: InterruptSignal, code: number): void {
  // Without listeners, Node stops handling the signal and its default action (ending the process) is back.
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
  // Delivery is immediate; should the signal be blocked or ignored all the same, exit as a shell would report it.
  setTimeout(() => process.exit(code), 1000).unref();
}

/** Test hook: where lines go and how the process ends; resets the handled state (and the run's signal). */
export function interruptTestHooks(io: InterruptIo): () => void {
  const previous = state.io;
  const reset = () => {
    state.interrupted = null;
    state.ending = false;
    state.checkpointing = 0;
    state.controller = runController();
  };
  state.io = io;
  reset();
  return () => {
    state.io = previous;
    reset();
    state.cleanups = [];
    state.hint = DEFAULT_HINT;
  };
}

let lastYield = 0;

/**
 * Lets a pending SIGTERM or SIGINT handler run. Signals reach JavaScript only when the event loop turns, and a stage
 * loop whose awaits all resolve at once (baseline components, answers from the call cache) runs on promise
 * continuations alone, which never let it turn: without this, a signal would wait for the whole stage. Stage loops
 * await it once per item; it yields to the event loop at most every 20 ms, so it costs nothing measurable.
 */
export async function letSignalsIn(): Promise<void> {
  const now = performance.now();
  if (now - lastYield < 20) return;
  lastYield = now;
  await new Promise<void>((resolve) => setImmediate(resolve));
}
