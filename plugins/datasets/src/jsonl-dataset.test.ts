import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { contentId } from '@expgen/plugin-kit';
import { createDataset, errorOf, readAll, tempDir } from './testing/harness.js';
import { lmsysRows } from './testing/sample-corpus.js';

describe('jsonl dataset', () => {
  const dir = tempDir();
  const file = (name: string, content: string | Uint8Array) => {
    writeFileSync(join(dir, name), content);
    return join(dir, name);
  };

  it('reads LMSYS-Chat conversations with their ids, the same documents as the parquet and Arrow fixtures', async () => {
    const { dataset } = await createDataset('jsonl', {
      path: 'lmsys-chat-sample.jsonl',
      messagesField: 'conversation',
      idField: 'conversation_id',
    });
    const documents = await readAll(dataset);
    assert.deepEqual(
      documents,
      lmsysRows().map((r) => ({
        id: r.conversation_id,
        messages: r.conversation.map(({ role, content }) => ({ role, content })),
      })),
    );
    assert.deepEqual(await readAll(dataset), documents);
  });

  it('reads text lines, skipping blank ones, with ids from the id field or a content hash', async () => {
    const path = file('web.jsonl', '{"id": "a", "text": "first"}\r\n\n{"text": "second"}\n{"id": 3, "text": "third"}');
    const { dataset } = await createDataset('jsonl', { path });
    assert.deepEqual(await readAll(dataset), [
      { id: 'a', text: 'first' },
      { id: contentId({ text: 'second' }), text: 'second' },
      { id: '3', text: 'third' },
    ]);
  });

  it('names the line of a bad record', async () => {
    assert.match(
      await errorOf('jsonl', { path: file('bad-json.jsonl', '{"text": "ok"}\n{"text": \n') }),
      /bad-json\.jsonl:2: not valid JSON \(.+\): each line must be one JSON object$/,
    );
    assert.match(
      await errorOf('jsonl', { path: file('array.jsonl', '["text"]\n') }),
      /array\.jsonl:1: expected a JSON object with "text" or "messages"$/,
    );
    assert.match(
      await errorOf('jsonl', { path: file('no-text.jsonl', '{"body": "x"}\n') }),
      /no-text\.jsonl:1: no "text" string or "messages" list \(text: missing, messages: missing\): set the dataset's textField \/ messagesField options to your field names$/,
    );
    const latin1 = Buffer.concat([
      Buffer.from('{"text": "ok"}\n{"text": "caf'),
      Buffer.from([0xe9]),
      Buffer.from('"}\n'),
    ]);
    assert.match(
      await errorOf('jsonl', { path: file('latin1.jsonl', latin1) }),
      /latin1\.jsonl:2: the line is not valid UTF-8: re-encode the file as UTF-8$/,
    );
    assert.match(
      await errorOf('jsonl', { path: join(dir, 'missing.jsonl') }),
      /^dataset "jsonl": file .*missing\.jsonl does not exist/,
    );
  });
});
