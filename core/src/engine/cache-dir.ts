import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** The durable cache shared by runs: configured, else `$XDG_CACHE_HOME/expgen`, else `~/.cache/expgen`. */
export function resolveCacheDir(configured: string | null, baseDir: string): string {
  if (configured) return resolve(baseDir, configured);
  const xdg = process.env.XDG_CACHE_HOME;
  return xdg ? join(xdg, 'expgen') : join(homedir(), '.cache', 'expgen');
}
