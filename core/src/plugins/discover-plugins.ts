import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { BUILTIN_PLUGINS, PLUGIN_KEYWORD, PLUGIN_NAME_PATTERN } from './builtin-plugins.js';

/** Where a plugin was found; decides nothing about how it loads (every origin loads the same way). */
export type PluginOrigin = 'builtin' | 'node_modules' | 'config';

export interface PluginCandidate {
  /** Package name (or the path, for a config path without package.json). */
  readonly name: string;
  /** Folder of the package, or the file given in the config. */
  readonly location: string;
  readonly origin: PluginOrigin;
  /** Whether the package declares oclif commands (`oclif.commands` in package.json). */
  readonly hasCommands: boolean;
}

interface PackageJson {
  name?: string;
  keywords?: unknown;
  oclif?: { commands?: unknown };
  /** `"expgen": { "example": true }` marks an example plugin (see `examplesWanted`). */
  expgen?: { example?: unknown };
}

/**
 * Example plugins (`"expgen": { "example": true }` in package.json, as the packages under examples/ are) are
 * installed into the repository's node_modules by `npm ci`, because they are workspaces; they are loaded from
 * there only when asked for: EXPGEN_EXAMPLES=1, or their folder listed under plugins.paths in the config. A user's
 * `expgen --help` and `expgen plugins` then show only what they installed.
 */
export function examplesWanted(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return env.EXPGEN_EXAMPLES === '1';
}

const isExample = (pkg: PackageJson) => pkg.expgen?.example === true;

function readPackageJson(dir: string): PackageJson | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
  } catch {
    return undefined;
  }
}

function isPlugin(name: string, pkg: PackageJson): boolean {
  return PLUGIN_NAME_PATTERN.test(name) || (Array.isArray(pkg.keywords) && pkg.keywords.includes(PLUGIN_KEYWORD));
}

/** node_modules folders from `start` up to the filesystem root, nearest first, as Node resolves packages. */
function nodeModulesDirs(start: string): string[] {
  const dirs: string[] = [];
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules');
    if (existsSync(candidate)) dirs.push(candidate);
    if (dirname(dir) === dir) return dirs;
  }
}

function packageDirsIn(nodeModules: string): string[] {
  const out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(nodeModules);
  } catch {
    return out;
  }
  for (const entry of entries.sort()) {
    if (entry.startsWith('.')) continue;
    const path = join(nodeModules, entry);
    if (entry.startsWith('@')) {
      try {
        for (const scoped of readdirSync(path).sort()) out.push(join(path, scoped));
      } catch {
        // an unreadable scope folder holds no plugins we could load anyway
      }
    } else {
      out.push(path);
    }
  }
  return out;
}

/**
 * Finds plugins: the built-in ones, packages in node_modules (from `cwd` upwards, then from expgen's own folder
 * upwards) named `expgen-plugin-*` /
 * `@scope/expgen-plugin-*` or carrying the `expgen-plugin` keyword, and the paths listed in the config. The first
 * found of a name wins, in that order, so a project cannot accidentally shadow a built-in.
 */
export function discoverPlugins(options: {
  cwd: string;
  configPaths?: readonly { path: string; baseDir: string }[];
  /** Load example plugins found in node_modules (default: `examplesWanted()`). */
  examples?: boolean;
}): PluginCandidate[] {
  const examples = options.examples ?? examplesWanted();
  const found = new Map<string, PluginCandidate>();
  const add = (candidate: PluginCandidate) => {
    if (!found.has(candidate.name)) found.set(candidate.name, candidate);
  };
  const requireFromCore = createRequire(import.meta.url);
  for (const name of BUILTIN_PLUGINS) {
    let location: string;
    try {
      location = dirname(requireFromCore.resolve(`${name}/package.json`));
    } catch {
      location = name; // reported when loading: the package is missing from this install
    }
    add({ name, location, origin: 'builtin', hasCommands: Boolean(readPackageJson(location)?.oclif?.commands) });
  }
  // From the current folder (a project's own installs) and from expgen's own location (plugins installed
  // beside a global or project-level expgen).
  for (const dir of installedPackageDirs(options.cwd)) {
    const pkg = readPackageJson(dir);
    if (!pkg?.name || !isPlugin(pkg.name, pkg) || (isExample(pkg) && !examples)) continue;
    add({ name: pkg.name, location: realDir(dir), origin: 'node_modules', hasCommands: Boolean(pkg.oclif?.commands) });
  }
  for (const { path, baseDir } of options.configPaths ?? []) {
    const location = resolve(baseDir, path);
    const pkg = isDirectory(location) ? readPackageJson(location) : undefined;
    add({ name: pkg?.name ?? location, location, origin: 'config', hasCommands: Boolean(pkg?.oclif?.commands) });
  }
  return [...found.values()];
}

/**
 * Example plugins installed in node_modules that discovery leaves out because they were not asked for, with their
 * folders (for `expgen plugins` to say how to load them).
 */
export function hiddenExamplePlugins(cwd: string): { name: string; location: string }[] {
  if (examplesWanted()) return [];
  const out = new Map<string, string>();
  for (const dir of installedPackageDirs(cwd)) {
    const pkg = readPackageJson(dir);
    if (pkg?.name && isPlugin(pkg.name, pkg) && isExample(pkg) && !out.has(pkg.name)) out.set(pkg.name, realDir(dir));
  }
  return [...out].map(([name, location]) => ({ name, location }));
}

/** Package folders of the node_modules above `cwd`, then of those above expgen's own folder. */
function installedPackageDirs(cwd: string): string[] {
  const coreDir = fileURLToPath(new URL('../../', import.meta.url));
  return [...new Set([...nodeModulesDirs(cwd), ...nodeModulesDirs(coreDir)])].flatMap(packageDirsIn);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Workspace and linked packages are symlinks; report where the code really is. */
function realDir(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
