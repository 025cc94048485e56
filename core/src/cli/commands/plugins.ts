import { Flags } from '@oclif/core';
import { ExpgenCommand } from '../base-command.js';
import { configFlags } from '../flags.js';
import { describePlugins } from '../../plugins/describe-plugins.js';
import { hiddenExamplePlugins } from '../../plugins/discover-plugins.js';

export default class Plugins extends ExpgenCommand {
  static override summary = 'List every discovered plugin with its version and the components it provides.';
  static override description =
    'Plugins are found among the built-in ones, npm packages named expgen-plugin-* or @scope/expgen-plugin-* (or carrying the "expgen-plugin" keyword) in node_modules, and the folders listed in the config under plugins.paths. Example plugins (package.json "expgen": {"example": true}, as in a checkout\'s examples/) load only with EXPGEN_EXAMPLES=1 or when listed under plugins.paths.';
  static override flags = {
    ...configFlags,
    json: Flags.boolean({ description: 'Print a JSON array on standard output.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Plugins);
    const loaded = await this.loadConfigFrom(flags);
    const listing = describePlugins(await this.discoverPlugins(loaded));
    if (flags.json) return this.printJson(listing);
    for (const p of listing) {
      this.log(`${p.name} ${p.version ?? ''}  [${p.origin}]${p.commands ? '  (adds commands)' : ''}`);
      if (p.error) this.log(`  failed to load: ${p.error}`);
      for (const c of p.components) this.log(`  ${c.kind.padEnd(18)} ${c.name.padEnd(18)} ${c.description}`);
    }
    const hidden = hiddenExamplePlugins(process.cwd()).filter((e) => !listing.some((p) => p.name === e.name));
    if (hidden.length > 0)
      this.log(
        `example plugins not loaded: ${hidden.map((e) => e.name).join(', ')} (EXPGEN_EXAMPLES=1 loads them, or list their folders under plugins.paths)`,
      );
  }
}
