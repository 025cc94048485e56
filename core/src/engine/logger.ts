import type { Logger } from '@expgen/contract';

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
