import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CompressionType, compressionRegistry, Float64, Int32, Table, Utf8, vectorFromArray } from 'apache-arrow';
import { contentId } from '@expgen/plugin-kit';
import { registerArrowCodecs } from './arrow-codecs.js';
import {
  column,
  CONVERSATION_TYPE,
  fineWebTable,
  inBatches,
  lmsysTable,
  rawUtf8Column,
  writeIpc,
} from './testing/arrow-tables.js';
import { createDataset, errorOf, FIXTURES, readAll, tempDir } from './testing/harness.js';
import { ZSTD_STORED } from './testing/parquet-writer.js';
import { fineWebRows, lmsysRows } from './testing/sample-corpus.js';

const web = fineWebRows({ long: true });
const chat = lmsysRows();
const chatDocuments = chat.map((r) => ({
  id: r.conversation_id,
  messages: r.conversation.map(({ role, content }) => ({ role, content })),
}));

describe('arrow dataset', () => {
  const dir = tempDir();
  const file = (name: string, bytes: Uint8Array | string) => {
    writeFileSync(join(dir, name), bytes);
    return join(dir, name);
  };

  it('reads the Feather v2 fixture (LZ4-frame buffers, two record batches) in order, with its ids', async () => {
    const { dataset, logger } = await createDataset('arrow', { path: 'fineweb-sample.feather' });
    const documents = await readAll(dataset);
    assert.deepEqual(
      documents,
      web.map((r) => ({ id: r.id, text: r.text })),
    );
    assert.deepEqual(await readAll(dataset), documents, 'a second pass yields the same documents');
    assert.deepEqual(logger.lines, []);
  });

  it('reads LMSYS-Chat conversations from the stream-format fixture', async () => {
    const { dataset } = await createDataset('arrow', {
      path: 'lmsys-chat-sample.arrows',
      messagesColumn: 'conversation',
      idColumn: 'conversation_id',
    });
    assert.deepEqual(await readAll(dataset), chatDocuments);
  });

  it('reads the stream format under a .arrow name, as a Hugging Face datasets cache writes it, with ZSTD buffers', async () => {
    registerArrowCodecs();
    const zstd = compressionRegistry.get(CompressionType.ZSTD)!;
    compressionRegistry.set(CompressionType.ZSTD, { encode: ZSTD_STORED.compress, decode: zstd.decode! });
    const path = file(
      'data-00000-of-00001.arrow',
      writeIpc(inBatches(lmsysTable(chat), 1), 'stream', CompressionType.ZSTD),
    );
    const { dataset } = await createDataset('arrow', {
      path,
      messagesColumn: 'conversation',
      idColumn: 'conversation_id',
    });
    assert.deepEqual(await readAll(dataset), chatDocuments);
  });

  it('reads dictionary-encoded and large strings, and a folder of shards in name order', async () => {
    const shards = join(dir, 'shards');
    mkdirSync(shards);
    // apache-arrow infers plain JS strings as dictionary-encoded columns.
    writeFileSync(
      join(shards, 'part-1.feather'),
      writeIpc(new Table({ text: vectorFromArray(['b0', 'b1', 'b0']), id: column([7, 8, 9], new Int32()) }), 'file'),
    );
    writeFileSync(
      join(shards, 'part-0.arrows'),
      writeIpc(inBatches(fineWebTable(fineWebRows().slice(0, 3), { largeText: true }), 2), 'stream'),
    );
    writeFileSync(join(shards, 'notes.txt'), 'not data');
    const { dataset } = await createDataset('arrow', { path: shards });
    const documents = await readAll(dataset);
    assert.deepEqual(documents, [
      ...fineWebRows()
        .slice(0, 3)
        .map((r) => ({ id: r.id, text: r.text })),
      { id: '7', text: 'b0' },
      { id: '8', text: 'b1' },
      { id: '9', text: 'b0' },
    ]);
    assert.deepEqual(await readAll(dataset), documents);
  });

  it('uses content hashes without an id column and when idColumn is null', async () => {
    const path = file('no-id.arrow', writeIpc(new Table({ body: column(['one', 'two'], new Utf8()) }), 'file'));
    const { dataset, logger } = await createDataset('arrow', { path, textColumn: 'body' });
    assert.deepEqual(await readAll(dataset), [
      { id: contentId({ text: 'one' }), text: 'one' },
      { id: contentId({ text: 'two' }), text: 'two' },
    ]);
    assert.match(logger.lines.join('\n'), /no-id\.arrow has no column "id": document ids are content hashes/);
    const { dataset: hashed } = await createDataset('arrow', {
      path: 'lmsys-chat-sample.arrows',
      messagesColumn: 'conversation',
      idColumn: null,
    });
    assert.deepEqual(
      (await readAll(hashed)).map((d) => d.id),
      chatDocuments.map((d) => contentId({ messages: d.messages })),
    );
  });

  it('stops early without leaking the file and honours an abort signal', async () => {
    const { dataset } = await createDataset('arrow', { path: 'fineweb-sample.feather' });
    for await (const document of dataset.documents()) {
      assert.equal(document.id, web[0]!.id);
      break;
    }
    const controller = new AbortController();
    controller.abort(new Error('stopped by the test'));
    await assert.rejects(readAll(dataset, { signal: controller.signal }), /stopped by the test/);
    assert.equal((await readAll(dataset)).length, web.length);
  });

  describe('errors name the file and say what to do', () => {
    it('an empty file, a folder without Arrow files', async () => {
      const empty = file('empty.arrow', '');
      assert.equal(
        await errorOf('arrow', { path: empty }),
        `${empty} is empty (0 bytes): the download or the write that made it did not finish; fetch or write it again`,
      );
      const folder = join(dir, 'no-arrow');
      mkdirSync(folder);
      writeFileSync(join(folder, 'x.parquet'), 'PAR1');
      assert.match(
        await errorOf('arrow', { path: folder }),
        /folder .*no-arrow holds no Arrow IPC files \(\*\.arrow, \*\.arrows, \*\.feather, \*\.ipc; subfolders are not searched\)/,
      );
    });

    it('files that are not Arrow: text, parquet, Feather v1, a Git LFS pointer', async () => {
      const garbage = file('garbage.arrow', 'plain text, certainly not an Arrow stream');
      assert.match(
        await errorOf('arrow', { path: garbage }),
        /^.*garbage\.arrow is not a readable Arrow IPC file or stream \(.+\): it is damaged or was cut short; download or write it again$/,
      );
      const parquet = file('shard.arrow', readFileSync(join(FIXTURES, 'fineweb-sample.parquet')));
      assert.match(
        await errorOf('arrow', { path: parquet }),
        /shard\.arrow is not a readable Arrow IPC file or stream \(unexpected first bytes\): it looks like a parquet file: use the parquet dataset component$/,
      );
      const v1 = file('old.feather', Buffer.concat([Buffer.from('FEA1'), Buffer.alloc(60)]));
      assert.match(
        await errorOf('arrow', { path: v1 }),
        /old\.feather .*: it looks like a Feather v1 file, which this reader does not take: rewrite it as Feather v2/,
      );
      const pointer = file('lfs.arrow', 'version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 12\n');
      assert.match(
        await errorOf('arrow', { path: pointer }),
        /it looks like a Git LFS pointer, not the data: run `git lfs pull`/,
      );
    });

    it('a file-format file cut short', async () => {
      const whole = readFileSync(join(FIXTURES, 'fineweb-sample.feather'));
      const cut = file('cut.feather', whole.subarray(0, whole.length - 200));
      assert.match(
        await errorOf('arrow', { path: cut }),
        /cut\.feather is not a readable Arrow IPC file or stream \(.+\): it is damaged or was cut short/,
      );
    });

    it('a stream cut short names the record batch', async () => {
      const whole = writeIpc(inBatches(lmsysTable(chat), 2), 'stream');
      const cut = file('cut.arrows', whole.subarray(0, whole.length - 300));
      const message = await errorOf('arrow', { path: cut, messagesColumn: 'conversation' });
      assert.match(
        message,
        /cut\.arrows: record batch 1 cannot be read \(.+\): the file is damaged or cut short; download or write it again$/,
      );
    });

    it('a missing column lists the columns the file has', async () => {
      assert.equal(
        await errorOf('arrow', { path: 'lmsys-chat-sample.arrows' }),
        `${join(FIXTURES, 'lmsys-chat-sample.arrows')} has no column "text" (its columns: conversation_id, model, conversation, turn, language): set the dataset's textColumn option to one of them`,
      );
    });

    it('columns of the wrong type', async () => {
      assert.match(
        await errorOf('arrow', { path: 'fineweb-sample.feather', textColumn: 'language_score' }),
        /column "language_score" holds Float64 values, not strings: set textColumn to the column holding the document text$/,
      );
      assert.match(
        await errorOf('arrow', { path: 'lmsys-chat-sample.arrows', messagesColumn: 'model' }),
        /column "model" holds Utf8 values, not a list of \{role, content\} structs/,
      );
      const path = file(
        'float-id.arrow',
        writeIpc(new Table({ text: column(['a'], new Utf8()), id: column([1.5], new Float64()) }), 'file'),
      );
      assert.match(
        await errorOf('arrow', { path }),
        /column "id" holds Float64 values; ids must be strings or integers/,
      );
    });

    it('a null text, a malformed message and invalid UTF-8 name the record batch and row', async () => {
      const nulls = file(
        'nulls.arrow',
        writeIpc(inBatches(new Table({ text: column(['a', 'b', null], new Utf8()) }), 2), 'file'),
      );
      assert.equal(
        await errorOf('arrow', { path: nulls }),
        `${nulls}: record batch 1, row 2: column "text" is null, not a string: remove or fill the records without one before reading (e.g. with pyarrow, pandas or duckdb)`,
      );
      const badMessage = file(
        'bad-message.arrow',
        writeIpc(
          new Table({
            conversation: column(
              [[{ role: 'user', content: 'hi' }], [{ role: 'user', content: null }]],
              CONVERSATION_TYPE,
            ),
          }),
          'file',
        ),
      );
      assert.equal(
        await errorOf('arrow', { path: badMessage, messagesColumn: 'conversation' }),
        `${badMessage}: record batch 0, row 1: conversation[0] must be {"role": string, "content": string}, found role a string ("user"), content null`,
      );
      const latin1 = file(
        'latin1.arrow',
        writeIpc(
          new Table({ text: rawUtf8Column([new TextEncoder().encode('ok'), Uint8Array.of(0x63, 0x61, 0x66, 0xe9)]) }),
          'stream',
        ),
      );
      assert.equal(
        await errorOf('arrow', { path: latin1 }),
        `${latin1}: record batch 0, row 1: column "text" is not valid UTF-8: re-encode the data as UTF-8`,
      );
    });
  });
});
