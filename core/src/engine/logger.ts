import type { Logger } from '../contract/plugin.js';

/**
 * Log lines go to standard error, so standard output carries only results (and only JSON with `--json`).
 * `EXPGEN_LOG=debug` shows debug lines; `EXPGEN_LOG=quiet` keeps only warnings.
 */
export function stderrLogger(level: string = process.env.EXPGEN_LOG ?? 'info'): Logger {
  const write = (line: string) => process.stderr.write(`${line}\n`);
  return {
    info: (m) => (level === 'quiet' ? undefined : write(m)),
    warn: (m) => write(`warning: ${m}`),
    debug: (m) => (level === 'debug' ? write(`debug: ${m}`) : undefined),
  };
}

/** Collects lines in memory: for tests, and for library users who route logs themselves. */
export function memoryLogger(): Logger & { readonly lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => void lines.push(m),
    warn: (m) => void lines.push(`warning: ${m}`),
    debug: (m) => void lines.push(`debug: ${m}`),
  };
}
