import { Args, Command } from '@oclif/core';
import { isExpgenError } from '@expgen/contract';
import { readParagraphs } from '../../paragraphs.js';

export default class TextLinesStats extends Command {
  static override summary =
    'Count the documents (paragraphs) and characters the text-lines dataset would read from a file.';
  static override args = { file: Args.string({ required: true, description: 'Plain-text file.' }) };

  async run(): Promise<void> {
    const { args } = await this.parse(TextLinesStats);
    try {
      const paragraphs = await readParagraphs(args.file);
      const characters = paragraphs.reduce((n, p) => n + p.length, 0);
      this.log(`${args.file}: ${paragraphs.length} documents, ${characters} characters`);
    } catch (error) {
      if (!isExpgenError(error)) throw error;
      this.logToStderr(`expgen: ${error.message}`);
      this.exit(2);
    }
  }
}
