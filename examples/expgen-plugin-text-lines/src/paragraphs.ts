import { readFile } from 'node:fs/promises';
import { ExpgenError } from '@expgen/contract';

/**
 * A plain-text file split into documents at blank lines (paragraphs). Lines inside a paragraph are joined with
 * a newline; surrounding whitespace is trimmed.
 */
export async function readParagraphs(path: string): Promise<string[]> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(await readFile(path));
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : 'it is not readable UTF-8 text';
    throw new ExpgenError(`text-lines: cannot read ${path}: ${reason}`);
  }
  return text
    .split(/\r?\n\s*\r?\n/)
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}
