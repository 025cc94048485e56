import { Args } from '@oclif/core';
import { ExpgenCommand } from '@expgen/core/cli';
import { readParagraphs } from '../../paragraphs.js';

/**
 * A plugin's own command. Extending `ExpgenCommand` (from `@expgen/core/cli`) gives it expgen's error handling: an
 * ExpgenError thrown here is printed as one `expgen: ...` line with its exit code, like every expgen command's.
 */
export default class TextLinesStats extends ExpgenCommand {
  static override summary =
    'Count the documents (paragraphs) and characters the text-lines dataset would read from a file.';
  static override args = { file: Args.string({ required: true, description: 'Plain-text file.' }) };

  async run(): Promise<void> {
    const { args } = await this.parse(TextLinesStats);
    const paragraphs = await readParagraphs(args.file);
    const characters = paragraphs.reduce((n, p) => n + p.length, 0);
    this.log(`${args.file}: ${paragraphs.length} documents, ${characters} characters`);
  }
}
