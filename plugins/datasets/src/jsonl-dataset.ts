import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ExpgenError, type ComponentContext, type DatasetSource, type SourceDocument } from '@expgen/contract';
import { recordToDocument } from './record-document.js';

export interface JsonlOptions {
  path: string;
  textField: string;
  messagesField: string;
  idField: string | null;
}

/**
 * Documents from a JSON Lines file: one object per line with a text field (`{"text": ...}`, FineWeb style) or a
 * conversation (`{"messages": [{"role", "content"}, ...]}`, LMSYS-Chat style). Ids come from `idField` when the
 * line has one, else from a hash of the content, so a document's split never depends on its position.
 */
export async function openJsonlDataset(
  name: string,
  options: JsonlOptions,
  context: ComponentContext,
): Promise<DatasetSource> {
  const path = resolve(context.baseDir, options.path);
  try {
    await access(path);
  } catch {
    throw new ExpgenError(
      `dataset "${name}": file ${path} does not exist: check the dataset's options.path (relative paths start at the config file's folder)`,
    );
  }
  return {
    provenance: { ...context.provenance, settings: { path } },
    name,
    async *documents() {
      let lineNumber = 0;
      for await (const line of utf8Lines(path)) {
        lineNumber++;
        if (line === null)
          throw new ExpgenError(`${path}:${lineNumber}: the line is not valid UTF-8: re-encode the file as UTF-8`);
        if (line.trim() === '') continue;
        let record: unknown;
        try {
          record = JSON.parse(line);
        } catch (error) {
          throw new ExpgenError(
            `${path}:${lineNumber}: not valid JSON (${(error as Error).message}): each line must be one JSON object`,
          );
        }
        yield toDocument(record, options, `${path}:${lineNumber}`);
      }
    },
  };
}

/**
 * Lines of a file, decoded strictly: a line that is not valid UTF-8 comes out as null (with its number intact)
 * instead of being silently patched with U+FFFD as readline would.
 */
async function* utf8Lines(path: string): AsyncGenerator<string | null> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const decode = (bytes: Buffer): string | null => {
    try {
      return decoder.decode(bytes[bytes.length - 1] === 0x0d ? bytes.subarray(0, -1) : bytes);
    } catch {
      return null;
    }
  };
  let pending = Buffer.alloc(0);
  for await (const chunk of createReadStream(path)) {
    let buffer = pending.length ? Buffer.concat([pending, chunk as Buffer]) : (chunk as Buffer);
    let newline: number;
    while ((newline = buffer.indexOf(0x0a)) !== -1) {
      yield decode(buffer.subarray(0, newline));
      buffer = buffer.subarray(newline + 1);
    }
    pending = Buffer.from(buffer);
  }
  if (pending.length) yield decode(pending);
}

/**
 * One parsed line as a document. The mapping itself (text or messages, id or content hash) is the one every
 * format shares; JSON Lines adds only the check that the line is an object.
 */
export function toDocument(record: unknown, options: Omit<JsonlOptions, 'path'>, where: string): SourceDocument {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new ExpgenError(`${where}: expected a JSON object with "${options.textField}" or "${options.messagesField}"`);
  }
  return recordToDocument(
    record as Record<string, unknown>,
    { text: options.textField, messages: options.messagesField, id: options.idField, noun: 'field' },
    where,
  );
}
