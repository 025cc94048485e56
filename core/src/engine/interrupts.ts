import { ExpgenError } from '@expgen/contract';

/** The signals a run stops cleanly on: SIGTERM (Slurm preemption and time limits, Kubernetes eviction), SIGINT. */
export const INTERRUPT_SIGNALS = ['SIGTERM', 'SIGINT'] as const;
export type InterruptSignal = (typeof INTERRUPT_SIGNALS)[number];

/** Exit codes by the shell's convention, 128 + the signal's number, so schedulers and scripts see what happened. */
const EXIT_CODES: Record<InterruptSignal, number> = { SIGINT: 130, SIGTERM: 143 };

/** The reason a run's signal is aborted with. */
export class Interrupt extends Error {
  constructor(readonly signalName: InterruptSignal) {
    super(`interrupted by ${signalName}`);
    this.name = 'Interrupt';
  }
}

/** The one line a stopped run ends with: what was kept, and that the same command resumes. */
export function stoppedError(signal: AbortSignal, kept: string): ExpgenError {
  const name = signal.reason instanceof Interrupt ? signal.reason.signalName : 'SIGTERM';
  return new ExpgenError(`stopped by ${name}: ${kept}; run the same command to resume`, {
    exitCode: EXIT_CODES[name],
  });
}

/** How a command's run reacts to SIGTERM and SIGINT while it is watched. */
export interface Interrupts {
  /** Aborted, with an `Interrupt` as its reason, on the first SIGTERM or SIGINT. */
  readonly signal: AbortSignal;
  /**
   * Awaits work, started with `signal`, that stops by itself when `signal` aborts and must be given the time to
   * save its state (stage 1 writes a checkpoint, then throws `stoppedError`). Outside such work an interrupt exits
   * at once: stages 2 and 3 journal every finished item with synchronous writes, which a signal handler never
   * splits, so there is nothing to save. If `work` ends normally after an interrupt (it was past its last check),
   * the run stops right after, saying `kept`. (Pass the work's promise as soon as it is made: a signal handler runs
   * only between event-loop turns, so none can come in between.)
   */
  checkpointing<T>(work: Promise<T>, kept: string): Promise<T>;
  /** Removes the handlers (the command is over). */
  dispose(): void;
}

export interface WatchOptions {
  /** One line on standard error, for the immediate exit (default: process.stderr). */
  readonly write?: (line: string) => void;
  /** Exits the process (default: process.exit); tests pass their own. */
  readonly exit?: (code: number) => void;
  /** Where handlers are installed (default: process). */
  readonly target?: Pick<NodeJS.Process, 'on' | 'off'>;
}

/**
 * Watches SIGTERM and SIGINT for one command, through one handler (`onSignal`) for both, so the behaviour on
 * Ctrl-C and on a scheduler's stop is the same and can be extended in one place: the first signal aborts `signal`
 * and, unless checkpointing work is running, prints one line and exits; a second signal exits at once (the
 * checkpoint being written is renamed into place only when whole, so the previous one still serves).
 */
export function watchInterrupts(options: WatchOptions = {}): Interrupts {
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const target = options.target ?? process;
  const controller = new AbortController();
  let checkpointingWork = 0;

  const onSignal = (name: InterruptSignal) => {
    if (controller.signal.aborted) {
      write(`expgen: ${name} again: stopping now; the last checkpoint and every journaled item are kept`);
      exit(EXIT_CODES[name]);
      return;
    }
    controller.abort(new Interrupt(name));
    if (checkpointingWork > 0) {
      write(`expgen: ${name} received: saving a checkpoint, then stopping (send it again to stop at once)`);
      return;
    }
    write(`expgen: ${stoppedError(controller.signal, 'every finished item is kept').message}`);
    exit(EXIT_CODES[name]);
  };
  const handlers = INTERRUPT_SIGNALS.map((name) => [name, () => onSignal(name)] as const);
  for (const [name, handler] of handlers) target.on(name, handler);

  return {
    signal: controller.signal,
    async checkpointing<T>(work: Promise<T>, kept: string): Promise<T> {
      checkpointingWork++;
      let result: T;
      try {
        result = await work;
      } finally {
        checkpointingWork--;
      }
      if (controller.signal.aborted) throw stoppedError(controller.signal, kept);
      return result;
    },
    dispose() {
      for (const [name, handler] of handlers) target.off(name, handler);
    },
  };
}

let lastYield = 0;

/**
 * Lets a pending SIGTERM or SIGINT handler run. Node runs signal handlers from its event loop, and a stage loop
 * whose components answer at once (the baseline describer and simulator) runs on promise continuations alone,
 * which never return to the loop: without this, a signal would wait for the whole stage. Stage loops await it
 * once per item; it gives way at most every 20 ms, so it costs nothing measurable.
 */
export async function letSignalsIn(): Promise<void> {
  const now = performance.now();
  if (now - lastYield < 20) return;
  lastYield = now;
  await new Promise<void>((resolve) => setImmediate(resolve));
}
