// The CLI's entry point: tsyringe (in the composition root) needs the Reflect metadata polyfill loaded first, once.
import 'reflect-metadata';
import { Config, flush, handle, run } from '@oclif/core';
import { fileURLToPath } from 'node:url';
import { discoverPlugins } from '../plugins/discover-plugins.js';

/** The parts of oclif's Config used to add command plugins found by expgen's own discovery. */
interface PluginLoadingConfig {
  pluginLoader: { loadPlugins(root: string, type: string, plugins: { name: string; root: string }[]): Promise<void> };
  plugins: Map<string, unknown>;
  loadCommands(plugin: unknown): void;
  loadTopics(plugin: unknown): void;
}

/**
 * Starts the CLI. Plugins that add commands are found by expgen's discovery (the same that finds components)
 * and handed to oclif as linked plugins, so `npm install expgen-plugin-x` is all a user does.
 */
export async function main(argv: string[]): Promise<void> {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  try {
    const config = await Config.load({ root });
    await addCommandPlugins(config);
    await run(argv, config);
    await flush();
  } catch (error) {
    await handle(error as Error);
  }
}

async function addCommandPlugins(config: Config): Promise<void> {
  const withCommands = discoverPlugins({ cwd: process.cwd() }).filter(
    (c) => c.hasCommands && !config.plugins.has(c.name),
  );
  if (withCommands.length === 0) return;
  const internals = config as unknown as PluginLoadingConfig;
  await internals.pluginLoader.loadPlugins(
    config.root,
    'core',
    withCommands.map((c) => ({ name: c.name, root: c.location })),
  );
  for (const candidate of withCommands) {
    const plugin = internals.plugins.get(candidate.name);
    if (!plugin) continue;
    internals.loadCommands(plugin);
    internals.loadTopics(plugin);
  }
}
