import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contentId } from '@expgen/plugin-kit';
import { decodeUtf8Strict, InvalidUtf8, recordToDocument, type RecordFields } from './record-document.js';

const columns: RecordFields = { text: 'text', messages: null, id: 'id', noun: 'column' };
const both: RecordFields = { text: 'text', messages: 'messages', id: 'id', noun: 'field' };
const chat: RecordFields = { text: null, messages: 'conversation', id: 'conversation_id', noun: 'column' };
const where = 'shard.parquet: row group 1, row 7';

describe('recordToDocument', () => {
  it('takes the text and the id column', () => {
    assert.deepEqual(recordToDocument({ text: 'hello', id: '<urn:uuid:1>' }, columns, where), {
      id: '<urn:uuid:1>',
      text: 'hello',
    });
  });

  it('turns integer ids into strings and falls back to a content hash without a usable id', () => {
    assert.equal(recordToDocument({ text: 'a', id: 42n }, columns, where).id, '42');
    assert.equal(recordToDocument({ text: 'a', id: 7 }, columns, where).id, '7');
    assert.equal(recordToDocument({ text: 'a', id: null }, columns, where).id, contentId({ text: 'a' }));
    assert.equal(recordToDocument({ text: 'a' }, columns, where).id, contentId({ text: 'a' }));
    assert.equal(
      recordToDocument({ text: 'a', id: 'x' }, { ...columns, id: null }, where).id,
      contentId({ text: 'a' }),
    );
  });

  it('reads conversations, keeping only role and content', () => {
    const conversation = [
      { content: 'hi', role: 'user', extra: 1 },
      { role: 'assistant', content: 'hello' },
    ];
    const document = recordToDocument({ conversation, conversation_id: 'c1' }, chat, where);
    assert.deepEqual(document, {
      id: 'c1',
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
      ],
    });
    const hashed = recordToDocument({ conversation }, chat, where);
    assert.equal(hashed.id, contentId({ messages: document.messages! }));
  });

  it('prefers the text when a record has both, and falls back to the messages when the text is not a string', () => {
    assert.deepEqual(recordToDocument({ text: 't', messages: [{ role: 'user', content: 'm' }] }, both, where), {
      id: contentId({ text: 't' }),
      text: 't',
    });
    assert.deepEqual(recordToDocument({ text: 5, messages: [] }, both, where).messages, []);
  });

  it('names the record, the column and what was found when the text is missing or not a string', () => {
    assert.throws(() => recordToDocument({ text: 12 }, columns, where), {
      name: 'ExpgenError',
      message: `${where}: column "text" is a number (12), not a string: point the dataset's textColumn option at the column holding the document text`,
    });
    assert.throws(
      () => recordToDocument({ text: null }, columns, where),
      /row 7: column "text" is null, not a string: remove or fill the records without one/,
    );
    assert.throws(
      () => recordToDocument({}, both, where),
      /no "text" string or "messages" list \(text: missing, messages: missing\): set the dataset's textField \/ messagesField options/,
    );
  });

  it('names the message that is not {role, content}', () => {
    assert.throws(
      () => recordToDocument({ conversation: [{ role: 'user', content: 'a' }, { role: 'user' }] }, chat, where),
      {
        message: `${where}: conversation[1] must be {"role": string, "content": string}, found role a string ("user"), content missing`,
      },
    );
    assert.throws(
      () => recordToDocument({ conversation: ['hi'] }, chat, where),
      /conversation\[0\] must be .* found a string \("hi"\)/,
    );
    assert.throws(
      () => recordToDocument({ conversation: null }, chat, where),
      /column "conversation" is null, not a list of \{role, content\} messages: remove or fill/,
    );
    assert.throws(
      () => recordToDocument({ conversation: 'hi' }, chat, where),
      /column "conversation" is a string \("hi"\), not a list .*: point the dataset's messagesColumn option/,
    );
  });

  it('reports invalid UTF-8 in the text, a message or the id with the record and column', () => {
    const bad = new InvalidUtf8(Uint8Array.of(0xff));
    assert.throws(() => recordToDocument({ text: bad }, columns, where), {
      message: `${where}: column "text" is not valid UTF-8: re-encode the data as UTF-8`,
    });
    assert.throws(
      () => recordToDocument({ conversation: [{ role: 'user', content: bad }] }, chat, where),
      /column "conversation\[0\]\.content" is not valid UTF-8/,
    );
    assert.throws(() => recordToDocument({ text: 'ok', id: bad }, columns, where), /column "id" is not valid UTF-8/);
  });
});

describe('decodeUtf8Strict', () => {
  it('decodes valid UTF-8 and flags invalid bytes instead of patching them', () => {
    assert.equal(decodeUtf8Strict(new TextEncoder().encode('café 東京 🚆')), 'café 東京 🚆');
    assert.ok(decodeUtf8Strict(Uint8Array.of(0x63, 0x61, 0x66, 0xe9)) instanceof InvalidUtf8); // Latin-1 "café"
    assert.ok(decodeUtf8Strict(Uint8Array.of(0xf0, 0x9f, 0x9a)) instanceof InvalidUtf8); // a cut 4-byte sequence
  });
});
