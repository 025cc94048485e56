import { Flags } from '@oclif/core';
import { stringify } from 'yaml';
import { ExpgenCommand } from '../base-command.js';
import { configFlags } from '../flags.js';

export default class Config extends ExpgenCommand {
  static override summary =
    'Print the resolved config: the embedded default, the config file and --set overrides merged, and every component checked against its plugin.';
  static override flags = { ...configFlags, json: Flags.boolean({ description: 'Print JSON on standard output.' }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(Config);
    const resolved = await this.resolveConfig(flags);
    if (flags.json) return this.printJson(resolved.config);
    process.stderr.write(
      `# config: ${resolved.file ?? `embedded default (${resolved.defaultFile})`}\n# sha256: ${resolved.hash}\n`,
    );
    process.stdout.write(stringify(resolved.config));
  }
}
