import { Args, loadHelpClass } from '@oclif/core';
import { ExpgenError } from '@expgen/contract';
import { ExpgenCommand } from '../base-command.js';
import { closest } from '../suggest.js';

export default class Help extends ExpgenCommand {
  static override summary = 'Show help for expgen, or for one command: expgen help run, expgen help exemplars merge.';
  static override strict = false;
  static override args = {
    command: Args.string({ required: false, description: 'The command, its words separated by spaces.' }),
  };
  static override examples = ['<%= config.bin %> help run', '<%= config.bin %> help exemplars merge'];

  async run(): Promise<void> {
    const { argv } = await this.parse(Help);
    const words = (argv as string[]).filter((w) => !w.startsWith('-'));
    const HelpClass = await loadHelpClass(this.config);
    const help = new HelpClass(this.config, this.config.pjson.oclif.helpOptions ?? {});
    if (words.length === 0) return help.showHelp([]);
    const id = words.join(':');
    if (!this.config.findCommand(id) && !this.config.findTopic(id)) {
      const ids = this.config.commands.filter((c) => !c.hidden).map((c) => c.id.replaceAll(':', ' '));
      const near = closest(words.join(' '), ids);
      throw new ExpgenError(
        `no command "${words.join(' ')}"${near ? `; did you mean "expgen help ${near}"?` : ''} ("expgen --help" lists the commands)`,
      );
    }
    await help.showHelp(words);
  }
}
