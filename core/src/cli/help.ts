import { CommandHelp, Help } from '@oclif/core';
import { ENVIRONMENT } from './environment.js';

/**
 * Command help whose usage line wraps between flags, never inside one: `[--plugin NAME]` stays on one line.
 * oclif's own usage wraps at the last space that fits, which can split a flag from its value.
 */
class ExpgenCommandHelp extends CommandHelp {
  protected override usage(): string {
    const width = this.opts.maxWidth - this.indentSpacing;
    const usages = this.command.usage ? [this.command.usage].flat() : [this.defaultUsage()];
    const id = this.command.id.replaceAll(':', ' ');
    return usages
      .map((usage) => {
        const rest = usage.replace('<%= command.id %>', '').trim();
        const args = rest.startsWith(`${id} `) || rest === id ? rest.slice(id.length).trim() : rest;
        // Units that must stay whole: bracketed groups ([--plugin NAME], [-c FILE]) and single words.
        const units = [`$ ${this.config.bin} ${id}`, ...(args.match(/\[[^\]]*\]|\([^)]*\)|<[^>]*>|\S+/g) ?? [])];
        const lines: string[] = [];
        let line = '';
        for (const unit of units) {
          const indent = lines.length === 0 ? 0 : 2;
          if (line !== '' && indent + line.length + 1 + unit.length > width) {
            lines.push(line);
            line = unit;
          } else line = line === '' ? unit : `${line} ${unit}`;
        }
        lines.push(line);
        return lines.map((l, i) => (i === 0 ? l : `  ${l}`)).join('\n');
      })
      .join('\n');
  }
}

/**
 * expgen's help: usage lines that wrap between flags, and the environment variables expgen reads at the end of
 * every help page (`expgen --help`, `expgen run --help`, `expgen help run`).
 */
export default class ExpgenHelp extends Help {
  override CommandHelpClass = ExpgenCommandHelp;

  override async showRootHelp(): Promise<void> {
    await super.showRootHelp();
    this.log(this.environment());
  }

  override async showCommandHelp(command: Parameters<Help['showCommandHelp']>[0]): Promise<void> {
    await super.showCommandHelp(command);
    this.log(this.environment());
  }

  private environment(): string {
    const body = this.renderList(
      ENVIRONMENT.map(([name, what]) => [name, what]),
      { indentation: 2, spacer: '\n', stripAnsi: this.opts.stripAnsi },
    );
    return `${this.section('ENVIRONMENT', body)}\n`;
  }
}
