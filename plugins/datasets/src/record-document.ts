import { contentId } from '@expgen/plugin-kit';
import { ExpgenError, type ChatMessage, type SourceDocument } from '@expgen/contract';

/**
 * Stands in for a string whose bytes are not valid UTF-8. Readers decode strictly and put this in the record
 * instead of throwing, so the error can name the row and column, which the decoder does not know; and instead of
 * letting the decoder patch the text with U+FFFD, which would silently change what the subject model reads.
 */
export class InvalidUtf8 {
  constructor(readonly bytes: Uint8Array) {}
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/** Bytes to a string, or `InvalidUtf8` when they are not valid UTF-8. A leading BOM is kept as U+FEFF, as in the file. */
export function decodeUtf8Strict(bytes: Uint8Array): string | InvalidUtf8 {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return new InvalidUtf8(bytes);
  }
}

/** Where a record's values are found, under the names the user gives them in the component's options. */
export interface RecordFields {
  /** Key of the document text (`text` in FineWeb), or null when the source holds only conversations. */
  readonly text: string | null;
  /** Key of the conversation (a list of `{role, content}`), or null when the source holds only text. */
  readonly messages: string | null;
  /** Key of a stable document id, or null to always use a content hash. */
  readonly id: string | null;
  /**
   * How the format and its options name these, for error messages: JSON Lines has fields (`textField`),
   * parquet and Arrow have columns (`textColumn`).
   */
  readonly noun: 'field' | 'column';
}

/**
 * The one mapping from a record (a JSON object, a parquet row, an Arrow row) to a document, shared by every
 * format so that the same data gives the same documents and ids whichever file format carries it.
 *
 * The text wins when it is a string; otherwise the conversation is used when it is a list. The id is the id
 * value when it is a string or an integer, else a hash of the content, so a document's split never depends on
 * its position in the corpus. `where` names the record in errors (`file.parquet: row group 2, row 17`).
 */
export function recordToDocument(
  record: Readonly<Record<string, unknown>>,
  fields: RecordFields,
  where: string,
): SourceDocument {
  const text = fields.text === null ? undefined : record[fields.text];
  const messages = fields.messages === null ? undefined : record[fields.messages];
  let document: { text: string } | { messages: ChatMessage[] };
  if (typeof text === 'string') {
    document = { text };
  } else if (text instanceof InvalidUtf8) {
    throw invalidUtf8(where, fields, fields.text!);
  } else if (Array.isArray(messages)) {
    document = { messages: messages.map((m, i) => toMessage(m, i, fields, where)) };
  } else {
    throw new ExpgenError(`${where}: ${missingContent(text, messages, fields)}`);
  }
  return { id: toId(fields.id === null ? undefined : record[fields.id], document, fields, where), ...document };
}

function toMessage(value: unknown, index: number, fields: RecordFields, where: string): ChatMessage {
  const key = `${fields.messages}[${index}]`;
  const message = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  for (const part of ['role', 'content'] as const) {
    if (message[part] instanceof InvalidUtf8) throw invalidUtf8(where, fields, `${key}.${part}`);
  }
  if (typeof message.role !== 'string' || typeof message.content !== 'string') {
    const found =
      typeof value === 'object' && value !== null
        ? `role ${describe(message.role)}, content ${describe(message.content)}`
        : describe(value);
    throw new ExpgenError(`${where}: ${key} must be {"role": string, "content": string}, found ${found}`);
  }
  return { role: message.role, content: message.content };
}

function toId(
  raw: unknown,
  document: { text: string } | { messages: ChatMessage[] },
  fields: RecordFields,
  where: string,
): string {
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'bigint' || (typeof raw === 'number' && Number.isFinite(raw))) return String(raw);
  if (raw instanceof InvalidUtf8) throw invalidUtf8(where, fields, fields.id!);
  // No id (or an unusable one, e.g. null in a nullable column): the content decides, as for sources without ids.
  return contentId(document);
}

function missingContent(text: unknown, messages: unknown, fields: RecordFields): string {
  const option = fields.noun === 'field' ? 'Field' : 'Column';
  // A null in the right column is a gap in the data; anything else means the option names the wrong column.
  const gap = `remove or fill the records without one before reading (e.g. with pyarrow, pandas or duckdb)`;
  if (fields.text === null) {
    return (
      `${fields.noun} "${fields.messages}" is ${describe(messages)}, not a list of {role, content} messages: ` +
      (messages === null
        ? gap
        : `point the dataset's messages${option} option at the ${fields.noun} holding the conversations`)
    );
  }
  if (fields.messages === null) {
    return (
      `${fields.noun} "${fields.text}" is ${describe(text)}, not a string: ` +
      (text === null ? gap : `point the dataset's text${option} option at the ${fields.noun} holding the document text`)
    );
  }
  return (
    `no "${fields.text}" string or "${fields.messages}" list (${fields.text}: ${describe(text)}, ${fields.messages}: ${describe(messages)}): ` +
    `set the dataset's text${option} / messages${option} options to your ${fields.noun} names`
  );
}

function invalidUtf8(where: string, fields: RecordFields, key: string): ExpgenError {
  return new ExpgenError(`${where}: ${fields.noun} "${key}" is not valid UTF-8: re-encode the data as UTF-8`);
}

/** A value as an error message names it: `missing`, `null`, `a number (3)`, `a list`. */
export function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (typeof value === 'string')
    return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)})`;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return `a ${typeof value} (${String(value)})`;
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return 'binary data';
  if (value instanceof Date) return 'a date';
  return 'an object';
}
