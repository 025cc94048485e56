import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const launcher = join(repoRoot, 'core', 'bin', 'run.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `expgen` launcher as a user would (a child process, from the repository root unless `cwd` says
 * otherwise), with its own cache folder so tests never touch the user's.
 */
export function runCli(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; cacheDir?: string } = {},
): Promise<CliResult> {
  return runNodeScript(launcher, args, options);
}

/** Runs a Node script in a child process as `runCli` runs the launcher: the test cache, no colour, output kept. */
export function runNodeScript(
  script: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; cacheDir?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, XDG_CACHE_HOME: options.cacheDir ?? testCacheDir(), NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let sharedCache: string | undefined;
/** One cache folder per test process, so the tiny model is generated and built once per file. */
export function testCacheDir(): string {
  return (sharedCache ??= mkdtempSync(join(tmpdir(), 'expgen-test-cache-')));
}

export function tempDir(prefix = 'expgen-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * A user mistake is reported as exactly one line starting with "expgen:", last on stderr (progress and log lines
 * may come before it), with no stack trace.
 */
export function assertOneLineError(result: CliResult): string {
  const lines = result.stderr.trim().split('\n');
  const errors = lines.filter((l) => l.startsWith('expgen: '));
  if (result.code === 0) throw new Error(`expected a non-zero exit, got 0 (stdout: ${result.stdout})`);
  if (errors.length !== 1 || lines.at(-1) !== errors[0])
    throw new Error(`expected one "expgen: ..." line last on stderr, got:\n${result.stderr}`);
  if (/^\s+at /m.test(result.stderr)) throw new Error(`stack trace on stderr:\n${result.stderr}`);
  return errors[0]!;
}
