import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cosmiconfig } from 'cosmiconfig';
import { parse as parseYaml } from 'yaml';
import { ExpgenError, formatKeyPath, SchemaError, type KeyPath } from '@expgen/contract';
import { canonicalJson } from '@expgen/plugin-kit';
import { configSchema, snakeCaseName, type ExpgenConfig } from './config-schema.js';

/** Sections that choose a component: switching the component drops the options inherited for the old one. */
export const COMPONENT_SECTIONS = ['subject', 'activation', 'describer', 'simulator', 'scorer'] as const;
export type ComponentSectionName = (typeof COMPONENT_SECTIONS)[number];

export interface LoadConfigOptions {
  /** `--config FILE`; without it, cosmiconfig searches from `cwd` up to the project root. */
  readonly configFile?: string;
  /** `--set path=value` overrides, applied over the file. */
  readonly sets?: readonly string[];
  readonly cwd?: string;
  /** Skip the search (tests, and commands run with `--config`). */
  readonly search?: boolean;
  /**
   * `--scorer NAME` (repeatable): the scorers reported, by name. Each is the config's `scorers` entry of that name,
   * options and all, or the component of that name with its default options.
   */
  readonly scorers?: readonly string[];
}

export interface LoadedConfig {
  readonly config: ExpgenConfig;
  /** The user's config file, or null when only the embedded default applies. */
  readonly file: string | null;
  readonly defaultFile: string;
  /** sha256 of the resolved config's canonical JSON. */
  readonly hash: string;
  /** Folder that relative paths in a section's options resolve against: the folder of the file that set them. */
  baseDirOf(path: KeyPath): string;
  /** The file (or `--set` flag) that set the value at `path`, for error messages about it. */
  sourceOf(path: KeyPath): string;
}

const SEARCH_PLACES = [
  'expgen.config.yaml',
  'expgen.config.yml',
  'expgen.config.json',
  'expgen.config.js',
  'expgen.config.mjs',
  '.expgenrc',
  '.expgenrc.json',
  '.expgenrc.yaml',
  '.expgenrc.yml',
  '.expgenrc.js',
  '.expgenrc.mjs',
  'package.json',
];

/** The repository's `configs/` folder, which holds the embedded default (`demo.yaml`). */
export function configsDir(): string {
  return fileURLToPath(new URL('../../../configs/', import.meta.url));
}

export function defaultConfigFile(): string {
  return resolve(configsDir(), 'demo.yaml');
}

export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const cwd = options.cwd ?? process.cwd();
  const explorer = cosmiconfig('expgen', { searchPlaces: SEARCH_PLACES, searchStrategy: 'project' });
  const defaultFile = defaultConfigFile();
  const defaults = await readConfigFile(explorer, defaultFile);

  let file: string | null = null;
  let user: Record<string, unknown> = {};
  if (options.configFile) {
    file = resolve(cwd, options.configFile);
    if (!existsSync(file)) throw new ExpgenError(`config file ${file} does not exist: check the --config path`);
    user = await readConfigFile(explorer, file);
  } else if (options.search !== false) {
    const found = await explorer.search(cwd).catch((error: unknown) => {
      const file = (error as { filepath?: unknown }).filepath;
      if (typeof file === 'string') throw new ExpgenError(parseErrorLine(file, error));
      throw new ExpgenError(`could not read the config file found from ${cwd}: ${firstLine(error)}`);
    });
    if (found && !found.isEmpty) {
      file = found.filepath;
      user = asMapping(found.config, file);
    }
  }

  const fromFile = copyTree(user);
  const sets = (options.sets ?? []).map((text) => ({ text, ...parseSet(text) }));
  for (const set of sets) setAtPath(user, set, mergeConfig(defaults, user));
  const merged = mergeConfig(defaults, user);
  const picked = options.scorers?.length ? pickScorers(merged['scorers'], options.scorers) : undefined;
  if (picked) merged['scorers'] = picked.entries;

  const originOf = (at: KeyPath): { label: string; dir: string } => {
    let path = at;
    // A picked scorer comes from the config's entry it was picked from, or from --scorer itself.
    if (picked && path[0] === 'scorers' && typeof path[1] === 'number') {
      const from = picked.origins[path[1]];
      if (from === null) return { label: '--scorer', dir: cwd };
      if (from !== undefined) path = ['scorers', from, ...path.slice(2)];
    }
    const set = sets.find((s) => startsWith(path, s.path) || startsWith(s.path, path));
    if (set) return { label: '--set', dir: cwd };
    if (file && hasPath(fromFile, path)) return { label: file, dir: dirname(file) };
    return { label: defaultFile, dir: dirname(defaultFile) };
  };

  let config: ExpgenConfig;
  try {
    config = configSchema.parse(merged);
  } catch (error) {
    if (error instanceof SchemaError) throw new ExpgenError(`${originOf(error.path).label}: ${error.message}`);
    throw error;
  }
  return {
    config,
    file,
    defaultFile,
    hash: hashConfig(config),
    baseDirOf: (path) => originOf(path).dir,
    sourceOf: (path) => originOf(path).label,
  };
}

/**
 * The `scorers` list `--scorer` names: each name's entry of the configured list (an entry is a name, or a section
 * named by `name` or else its `component`), or a section of the component of that name. `origins[i]` is the index
 * in the configured list entry i came from, or null for a name the list does not hold.
 */
function pickScorers(
  configured: unknown,
  names: readonly string[],
): { entries: unknown[]; origins: (number | null)[] } {
  const list = Array.isArray(configured) ? configured : [];
  // An entry's score name: its `name`, or its component's name in snake_case (so `--scorer my-scorer` and
  // `--scorer my_scorer` pick the entry of the component `my-scorer`).
  const nameOf = (entry: unknown): unknown => {
    const component = typeof entry === 'string' ? entry : isMapping(entry) ? entry['component'] : undefined;
    const named = isMapping(entry) ? entry['name'] : undefined;
    return named ?? (typeof component === 'string' ? snakeCaseName(component) : undefined);
  };
  const entries: unknown[] = [];
  const origins: (number | null)[] = [];
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new ExpgenError(`--scorer ${name} is given twice: name each scorer once`);
    seen.add(name);
    const i = list.findIndex((entry) => nameOf(entry) === snakeCaseName(name));
    entries.push(i >= 0 ? list[i] : { component: name });
    origins.push(i >= 0 ? i : null);
  }
  return { entries, origins };
}

export function hashConfig(config: unknown): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex');
}

async function readConfigFile(
  explorer: ReturnType<typeof cosmiconfig>,
  file: string,
): Promise<Record<string, unknown>> {
  let result: Awaited<ReturnType<typeof explorer.load>>;
  try {
    result = await explorer.load(file);
  } catch (error) {
    throw new ExpgenError(parseErrorLine(file, error));
  }
  return result && !result.isEmpty ? asMapping(result.config, file) : {};
}

/**
 * One line for a config file that does not parse: the file, the line and column, and the parser's reason
 * ("expected a comma"), instead of cosmiconfig's "YAML Error in FILE:" whose reason sits on the following lines.
 */
export function parseErrorLine(file: string, error: unknown): string {
  const e = error as { name?: string; reason?: unknown; mark?: { line?: number; column?: number }; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(error);
  // js-yaml (cosmiconfig's YAML parser): the reason and a 0-based mark.
  if (typeof e.reason === 'string' && typeof e.mark?.line === 'number' && typeof e.mark.column === 'number')
    return `${file}: YAML syntax error at line ${e.mark.line + 1}, column ${e.mark.column + 1}: ${e.reason}; fix the file`;
  // JSON (parse-json over JSON.parse): the reason and a character offset in the message.
  const json = /(?:^|\n)\s*([^\n]*?) in JSON at position (\d+)/.exec(message);
  if (json) {
    const { line, column } = lineAndColumn(file, Number(json[2]));
    return `${file}: JSON syntax error at line ${line}, column ${column}: ${json[1]}; fix the file`;
  }
  if (/Unexpected end of JSON input/.test(message)) {
    const { line, column } = lineAndColumn(file, Number.POSITIVE_INFINITY);
    return `${file}: JSON syntax error at line ${line}, column ${column}: the file ends before the value does; fix the file`;
  }
  return `config file ${file} could not be parsed: ${firstLine(error)}`;
}

/** The 1-based line and column of a character offset in `file` (its end when the offset is past it). */
function lineAndColumn(file: string, offset: number): { line: number; column: number } {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // The parser read it a moment ago; without it, report the start.
  }
  const before = text.slice(0, Math.min(offset, text.length));
  const lines = before.split('\n');
  return { line: lines.length, column: lines.at(-1)!.length + 1 };
}

/** The first line of an error's message that says something (cosmiconfig puts a bare "... Error in FILE:" first). */
function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const lines = message.split('\n').map((l) => l.trim());
  return lines.find((l) => l && !/Error in .*:$/.test(l)) ?? lines[0] ?? '';
}

function asMapping(value: unknown, file: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ExpgenError(
      `${file}: expected a mapping of config keys at the top level, found ${Array.isArray(value) ? 'a list' : typeof value}`,
    );
  }
  return value as Record<string, unknown>;
}

/**
 * Merges a user's config over the defaults: mappings merge key by key, lists and scalars replace, and a
 * component section whose `component` changes starts afresh (options for one plugin mean nothing to another).
 */
export function mergeConfig(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    const isSection = (COMPONENT_SECTIONS as readonly string[]).includes(key);
    if (
      isSection &&
      isMapping(value) &&
      isMapping(current) &&
      value.component !== undefined &&
      value.component !== current.component
    ) {
      out[key] = value;
    } else if (isMapping(value) && isMapping(current)) {
      out[key] = mergeConfig(current, value);
    } else {
      out[key] = value;
    }
  }
  return out;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses `a.b[0].c=value`; the value is read as YAML, so numbers, booleans, lists and null keep their type. */
export function parseSet(text: string): { path: KeyPath; value: unknown } {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ExpgenError(`--set "${text}" is not valid: expected path=value, e.g. --set exemplars.topK=50`);
  const pathText = text.slice(0, eq).trim();
  const path: (string | number)[] = [];
  for (const part of pathText.split('.')) {
    const match = /^([A-Za-z_][A-Za-z0-9_-]*)((?:\[\d+\])*)$/.exec(part);
    if (!match)
      throw new ExpgenError(
        `--set "${text}": "${pathText}" is not a key path (use dots and [index], e.g. datasets[0].ratio)`,
      );
    if (['__proto__', 'constructor', 'prototype'].includes(match[1]!))
      throw new ExpgenError(`--set "${text}": "${match[1]}" is not a config key`);
    path.push(match[1]!);
    for (const index of match[2]!.matchAll(/\[(\d+)\]/g)) path.push(Number(index[1]));
  }
  let value: unknown;
  try {
    value = parseYaml(text.slice(eq + 1));
  } catch (error) {
    throw new ExpgenError(`--set "${text}": the value is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  return { path, value: value === undefined ? null : value };
}

/**
 * Sets `path` in the user's config. `inherited` is the config it will be merged over: lists replace rather than
 * merge, so an index path into a list the user did not set (`datasets[0].ratio`) starts from a copy of that list.
 */
function setAtPath(
  target: Record<string, unknown>,
  set: { text: string; path: KeyPath; value: unknown },
  inherited: unknown,
): void {
  const { path, value } = set;
  let node: Record<string | number, unknown> = target;
  let base = inherited;
  path.forEach((key, i) => {
    base = typeof base === 'object' && base !== null ? (base as Record<string | number, unknown>)[key] : undefined;
    if (typeof key === 'number' && Array.isArray(node) && key > node.length) {
      throw new ExpgenError(
        `--set "${set.text}": ${formatKeyPath(path.slice(0, i))} has ${node.length} item${node.length === 1 ? '' : 's'}, so its index can be at most ${node.length} (which adds one)`,
      );
    }
    if (i === path.length - 1) {
      node[key] = value;
      return;
    }
    const next = node[key];
    if (typeof next !== 'object' || next === null) {
      node[key] = typeof path[i + 1] === 'number' ? (Array.isArray(base) ? copyTree(base) : []) : {};
    }
    node = node[key] as Record<string | number, unknown>;
  });
}

/** Copies plain mappings and lists, keeping every other value (a function in a JS config's options) as it is. */
function copyTree<T>(value: T): T {
  if (Array.isArray(value)) return value.map(copyTree) as T;
  if (isMapping(value) && [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copyTree(v)])) as T;
  }
  return value;
}

function hasPath(target: unknown, path: KeyPath): boolean {
  let node = target;
  for (const key of path) {
    if (typeof node !== 'object' || node === null || !(key in (node as object))) return false;
    node = (node as Record<string | number, unknown>)[key];
  }
  return true;
}

function startsWith(path: KeyPath, prefix: KeyPath): boolean {
  return prefix.length <= path.length && prefix.every((p, i) => path[i] === p);
}
