import { Flags } from '@oclif/core';
import { stringify } from 'yaml';
import { ExpgenCommand } from '../base-command.js';
import { configFlags } from '../flags.js';
import { resolveAllComponents } from '../../engine/resolve-components.js';

export default class Config extends ExpgenCommand {
  static override summary =
    'Print the resolved config: the embedded default, the config file and --set overrides merged, and every component checked against its plugin.';
  static override flags = { ...configFlags, json: Flags.boolean({ description: 'Print JSON on standard output.' }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(Config);
    const loaded = await this.loadConfigFrom(flags);
    const { config } = resolveAllComponents(loaded, await this.discoverPlugins(loaded));
    if (flags.json) return this.printJson(config);
    process.stderr.write(
      `# config: ${loaded.file ?? `embedded default (${loaded.defaultFile})`}\n# sha256: ${loaded.hash}\n`,
    );
    process.stdout.write(stringify(config));
  }
}
