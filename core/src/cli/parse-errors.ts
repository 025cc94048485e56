import { ExpgenError } from '@expgen/contract';
import { closest } from './suggest.js';

/** What the messages need of the command being parsed and of the CLI around it. */
export interface ParsedCommand {
  /** `run`, `exemplars merge`. */
  readonly id: string;
  readonly flags: Readonly<Record<string, { readonly char?: string }>>;
  readonly args: Readonly<Record<string, { readonly description?: string }>>;
  /** Every command of the CLI (id with spaces) and its flag names, to say where a flag belongs. */
  readonly commands: readonly { readonly id: string; readonly flags: readonly string[] }[];
}

/**
 * oclif's parse errors as one line each (an ExpgenError: exit code 2, no help dump): an unknown flag names the
 * nearest flag or the commands it belongs to, extra words say what the command takes, and every message ends with
 * where the full usage is. Returns null for anything that is not a parse error.
 */
export function parseFailure(error: unknown, command: ParsedCommand): ExpgenError | null {
  const e = error as { parse?: unknown; flags?: unknown; args?: unknown; message?: unknown };
  if (typeof e !== 'object' || e === null || !('parse' in e) || typeof e.message !== 'string') return null;
  const name = `expgen ${command.id}`;
  const help = `"${name} --help" lists its flags`;
  if (Array.isArray(e.flags)) {
    const unknown = e.flags.map(String);
    return new ExpgenError(`${name}: ${unknown.map((f) => unknownFlag(f, command)).join('; ')}; ${help}`);
  }
  const argNames = Object.keys(command.args).map((a) => a.toUpperCase());
  if (Array.isArray(e.args) && /^Unexpected argument/.test(e.message)) {
    const extra = e.args.map((a) => JSON.stringify(String(a))).join(', ');
    const takes = argNames.length === 0 ? 'takes no argument' : `takes ${argNames.join(' ')} only`;
    return new ExpgenError(`${name} ${takes} (found ${extra}): options are flags such as --out DIR; ${help}`);
  }
  if (/^Missing \d+ required arg/.test(e.message)) {
    const wanted = Object.entries(command.args)
      .map(
        ([arg, spec]) => `${arg.toUpperCase()}${spec.description ? ` (${spec.description.replace(/\.$/, '')})` : ''}`,
      )
      .join(', ');
    return new ExpgenError(`${name} needs ${wanted}; ${help}`);
  }
  const first = e.message
    .replace(/\nSee more help with --help$/, '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
  return new ExpgenError(`${name}: ${first}; ${help}`);
}

function unknownFlag(flag: string, command: ParsedCommand): string {
  const bare = flag.replace(/^-+/, '').replace(/=.*$/, '');
  const others = command.commands.filter((c) => c.id !== command.id && c.flags.includes(bare)).map((c) => c.id);
  if (others.length > 0)
    return `--${bare} does not apply here (it is a flag of ${others.map((c) => `"expgen ${c}"`).join(', ')})`;
  const names = Object.keys(command.flags);
  const near = closest(bare, names);
  return `unknown flag ${flag}${near ? ` (did you mean --${near}?)` : ''}`;
}
