/**
 * `@expgen/core/cli`: what a plugin's own CLI commands reuse — `ExpgenCommand`, the base class whose `catch` prints
 * an ExpgenError as one `expgen: ...` line with its exit code (never a stack trace), and the config flags.
 */
// An entry point of its own: the base command composes runs, and tsyringe needs the Reflect metadata polyfill first.
import 'reflect-metadata';

export { ExpgenCommand, type ComposeRequest } from './base-command.js';
export { configFlags, stageFlags } from './flags.js';
