/**
 * Progress of long work on standard error: a redrawn bar with rate and ETA on a terminal, a plain line every
 * `intervalMs` otherwise (CI logs, `nohup`, Slurm), so a researcher can always see that a run is alive.
 */
export interface Progress {
  /** Sets the amount done (absolute) and extra figures to show, e.g. tokens. */
  update(done: number, extra?: Readonly<Record<string, number>>): void;
  /** Prints the final state and a newline. */
  finish(message?: string): void;
}

export interface ProgressOptions {
  readonly label: string;
  readonly total: number;
  readonly unit: string;
  /** Figure whose rate is shown, e.g. `tokens` for tokens/s (default: the unit). */
  readonly rateOf?: string;
  readonly stream?: NodeJS.WriteStream;
  readonly intervalMs?: number;
  /** Forces the plain-line mode (tests, logs). */
  readonly plain?: boolean;
  /** Milliseconds since the epoch (default `Date.now`); the run's clock. */
  readonly now?: () => number;
}

/** Starts a progress display, or returns undefined when the run shows none. */
export type ProgressFactory = (options: ProgressOptions) => Progress | undefined;

/**
 * What a stage is told about progress: `true` (default) a display on standard error, `false` none, or the run's
 * factory (`tokens.progress`), which decides both.
 */
export type ProgressSetting = boolean | ProgressFactory | undefined;

/** The stage's progress display, if its setting asks for one. */
export function startProgress(setting: ProgressSetting, options: ProgressOptions): Progress | undefined {
  if (setting === false) return undefined;
  return typeof setting === 'function' ? setting(options) : createProgress(options);
}

export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const tty = !options.plain && stream.isTTY === true && !process.env.CI;
  const interval = options.intervalMs ?? (tty ? 200 : 30_000);
  const now = options.now ?? Date.now;
  const started = now();
  let startDone: number | undefined;
  let lastDraw = 0;
  let done = 0;
  let extra: Readonly<Record<string, number>> = {};

  const line = () => {
    const elapsed = (now() - started) / 1000;
    const rateKey = options.rateOf ?? options.unit;
    const rateValue = rateKey === options.unit ? done - (startDone ?? 0) : (extra[rateKey] ?? 0);
    const rate = elapsed > 0 ? rateValue / elapsed : 0;
    const fraction = options.total > 0 ? Math.min(1, done / options.total) : 0;
    const perUnit = elapsed > 0 && done > (startDone ?? 0) ? elapsed / (done - (startDone ?? 0)) : 0;
    const eta = perUnit > 0 ? formatDuration(perUnit * (options.total - done)) : '?';
    const figures = Object.entries(extra)
      .map(([k, v]) => `${formatCount(v)} ${k}`)
      .join(', ');
    const head = `${options.label} ${formatCount(done)}/${formatCount(options.total)} ${options.unit} (${(fraction * 100).toFixed(1)}%)`;
    const bar = tty ? ` [${'#'.repeat(Math.round(fraction * 24)).padEnd(24, '.')}]` : '';
    return `${head}${bar} ${formatCount(rate)} ${rateKey}/s, ETA ${eta}${figures ? `, ${figures}` : ''}`;
  };
  const draw = (force: boolean) => {
    const at = now();
    if (!force && at - lastDraw < interval) return;
    lastDraw = at;
    stream.write(tty ? `\r\x1b[2K${line()}` : `${line()}\n`);
  };
  return {
    update(value, figures) {
      startDone ??= value === 0 ? 0 : value;
      done = value;
      if (figures) extra = figures;
      draw(false);
    },
    finish(message) {
      if (tty) stream.write(`\r\x1b[2K${line()}\n`);
      else stream.write(`${line()}\n`);
      if (message) stream.write(`${message}\n`);
    },
  };
}

export function formatCount(value: number): string {
  if (!Number.isFinite(value)) return '?';
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${(value / 1e9).toFixed(2)}G`;
  if (abs >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
