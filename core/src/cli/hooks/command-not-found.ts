import type { Hook } from '@oclif/core';
import { closest } from '../suggest.js';

/**
 * `expgen runn` and `expgen run extra`: one line on standard error and exit code 2. With spaces between topic and
 * command, oclif reads the words after a command that takes no argument as a longer command name ("run:extra"),
 * so that case is recognised here: the longest known command the words start with.
 */
const commandNotFound: Hook<'command_not_found'> = async ({ id, config }) => {
  const words = id.split(':');
  const ids = config.commands.filter((c) => !c.hidden).map((c) => c.id);
  const spaced = (i: string) => i.replaceAll(':', ' ');
  let line: string;
  const known = [...Array(words.length - 1).keys()]
    .map((n) => words.slice(0, words.length - 1 - n).join(':'))
    .find((prefix) => ids.includes(prefix));
  if (known !== undefined) {
    const extra = words.slice(known.split(':').length);
    const subcommands = ids.filter((i) => i.startsWith(`${known}:`)).map(spaced);
    const near = closest(spaced(id), subcommands);
    line = near
      ? `"${spaced(id)}" is not an expgen command; did you mean "expgen ${near}"?`
      : `"expgen ${spaced(known)}" takes no argument (found ${extra.map((w) => JSON.stringify(w)).join(', ')}): options are flags such as --out DIR${subcommands.length ? `, and its subcommands are ${subcommands.map((s) => `"${s}"`).join(', ')}` : ''}; "expgen ${spaced(known)} --help" lists them`;
  } else {
    // Nothing it starts with is a command: the first word is the mistake (the rest may be arguments).
    const first = words[0]!;
    const firstWords = [...new Set(ids.map((i) => i.split(':')[0]!))];
    const corrected = closest(first, firstWords);
    // With the first word corrected, the longest command the words then start with: "exemplar merge" -> "exemplars merge".
    const near =
      corrected === null
        ? null
        : ([...Array(words.length).keys()]
            .map((n) => [corrected, ...words.slice(1, words.length - n)].join(':'))
            .find((candidate) => ids.includes(candidate))
            ?.replaceAll(':', ' ') ?? corrected);
    line = `"${first}" is not an expgen command${near ? `; did you mean "expgen ${near}"?` : ''} ("expgen --help" lists the commands)`;
  }
  process.stderr.write(`expgen: ${line}\n`);
  process.exitCode = 2;
};

export default commandNotFound;
