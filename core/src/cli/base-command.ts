import { Command, type Interfaces } from '@oclif/core';
import { isExpgenError, type Logger, type ComponentKind } from '@expgen/contract';
import { loadConfig, type LoadedConfig } from '../config/load-config.js';
import { composeRun, type ComposedRun } from '../engine/composition-root.js';
import { resolveConfig, type ResolvedConfig } from '../engine/resolved-config.js';
import type { StageName } from '../engine/stage-config.js';
import { fileSystemErrorLine } from '../engine/file-system-errors.js';
import { installInterruptHandlers, interrupted } from '../engine/interrupts.js';
import { stderrLogger } from '../engine/logger.js';
import { PluginRegistry } from '../plugins/plugin-registry.js';
import { parseFailure } from './parse-errors.js';

// oclif's FlagOutput and ArgOutput, which its Interfaces namespace does not export.
// biome-ignore lint/suspicious/noExplicitAny: the shape oclif's parse is declared with
type OutputRecord = { [name: string]: any };

/** What a command composes: components it uses directly, stages it runs, and whether stages show progress. */
export interface ComposeRequest {
  readonly needs?: readonly ComponentKind[];
  readonly stages?: readonly StageName[];
  readonly progress?: boolean;
  /** Aborted on SIGTERM/SIGINT (`engine/interrupts.ts`): stage 1 checkpoints and stops. */
  readonly signal?: AbortSignal;
}

function isKindList(what: readonly ComponentKind[] | ComposeRequest): what is readonly ComponentKind[] {
  return Array.isArray(what);
}

/**
 * Commands are thin: parse flags, load the config, compose the run, call the engine, print. A user mistake
 * (ExpgenError) is one line on standard error and a non-zero exit, never a stack trace.
 */
export abstract class ExpgenCommand extends Command {
  /** oclif's parse errors (unknown flag, extra argument) become one line with a hint instead of the whole help. */
  protected override async parse<F extends OutputRecord, B extends OutputRecord, A extends OutputRecord>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    try {
      return await super.parse(options, argv);
    } catch (error) {
      const command = (options ?? this.ctor) as {
        flags?: Record<string, { char?: string }>;
        args?: Record<string, { description?: string }>;
      };
      throw (
        parseFailure(error, {
          id: this.id?.replaceAll(':', ' ') ?? '',
          flags: command.flags ?? {},
          args: command.args ?? {},
          commands: this.config.commands.map((c) => ({
            id: c.id.replaceAll(':', ' '),
            flags: Object.keys(c.flags ?? {}),
          })),
        }) ?? error
      );
    }
  }

  /** Ctrl-C and SIGTERM release locks, remove temporary files and say how to resume (`engine/interrupts.ts`). */
  protected override async init(): Promise<void> {
    await super.init();
    installInterruptHandlers();
  }

  protected async loadConfigFrom(
    flags: { config?: string; set?: string[]; scorer?: string[] },
    extraSets: string[] = [],
  ): Promise<LoadedConfig> {
    return loadConfig({
      ...(flags.config ? { configFile: flags.config } : {}),
      sets: [...extraSets, ...(flags.set ?? [])],
      ...(flags.scorer?.length ? { scorers: flags.scorer } : {}),
    });
  }

  protected async discoverPlugins(loaded: LoadedConfig): Promise<PluginRegistry> {
    return PluginRegistry.discover({
      cwd: process.cwd(),
      configPaths: loaded.config.plugins.paths.map((path, i) => ({
        path,
        baseDir: loaded.baseDirOf(['plugins', 'paths', i]),
      })),
    });
  }

  /** Loads the config and the plugins, and resolves every component section once (`expgen config`, and `compose`). */
  protected async resolveConfig(
    flags: { config?: string; set?: string[]; scorer?: string[] },
    extraSets: string[] = [],
  ) {
    const loaded = await this.loadConfigFrom(flags, extraSets);
    return resolveConfig(loaded, await this.discoverPlugins(loaded));
  }

  /**
   * Loads config and plugins, checks every component section against its plugin (a typo anywhere fails before any
   * model loads), and composes the run: the components `needs` names, or the stages and what they need. The caller
   * disposes the run.
   */
  protected async compose(
    flags: { config?: string; set?: string[]; scorer?: string[] },
    what: readonly ComponentKind[] | ComposeRequest,
    extraSets: string[] = [],
  ): Promise<{ config: ResolvedConfig; run: ComposedRun }> {
    const config = await this.resolveConfig(flags, extraSets);
    const request: ComposeRequest = isKindList(what) ? { needs: what } : what;
    const run = await composeRun({ config, logger: this.logger(), ...request });
    return { config, run };
  }

  /** Where components and stages log: standard error, so standard output stays clean for results and JSON. */
  protected logger(): Logger {
    return (this.cachedLogger ??= stderrLogger());
  }
  private cachedLogger: Logger | undefined;

  protected printJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  protected override async catch(error: Error & { exitCode?: number }): Promise<unknown> {
    // Work cut short by Ctrl-C fails as it stops; the interrupt's own line says what happened.
    if (interrupted()) return undefined;
    if (isExpgenError(error)) {
      process.stderr.write(`expgen: ${error.message}\n`);
      if (process.env.EXPGEN_DEBUG && error.cause)
        process.stderr.write(`${(error.cause as Error).stack ?? String(error.cause)}\n`);
      process.exitCode = error.exitCode;
      return undefined;
    }
    // A read-only folder, a parent that is a file, a full disk: the path and what to do, like any user mistake.
    const fileSystem = fileSystemErrorLine(error) ?? fileSystemErrorLine(error.cause);
    if (fileSystem) {
      process.stderr.write(`expgen: ${fileSystem}\n`);
      if (process.env.EXPGEN_DEBUG) process.stderr.write(`${error.stack ?? ''}\n`);
      process.exitCode = 2;
      return undefined;
    }
    // oclif's own errors (unknown flags, missing arguments) keep oclif's message and help pointer.
    if ((error as { oclif?: unknown }).oclif !== undefined) return super.catch(error);
    // Anything else (a plugin's plain Error while a stage runs, a failed request) is still one line; the stack is
    // for those who ask.
    process.stderr.write(`expgen: ${error.message.split('\n')[0]} (set EXPGEN_DEBUG=1 for the stack trace)\n`);
    if (process.env.EXPGEN_DEBUG) process.stderr.write(`${error.stack ?? ''}\n`);
    process.exitCode = 1;
    return undefined;
  }
}
