import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { contentId } from '@expgen/plugin-kit';
import { createDataset, errorOf, FIXTURES, readAll, tempDir } from './testing/harness.js';
import { writeParquet, ZSTD_STORED, type ParquetColumn } from './testing/parquet-writer.js';
import { fineWebRows, lmsysRows } from './testing/sample-corpus.js';

const web = fineWebRows();
const chat = lmsysRows();
const GZIP = { id: 2, compress: (page: Uint8Array) => gzipSync(page) };

/** A FineWeb-shaped table of `texts` (ids `prefix-0`, ...), as parquet columns. */
function shard(texts: readonly string[], prefix: string): ParquetColumn[] {
  return [
    { name: 'text', type: 'string', values: texts },
    { name: 'id', type: 'string', values: texts.map((_, i) => `${prefix}-${i}`) },
    { name: 'token_count', type: 'int64', values: texts.map((t) => t.length) },
  ];
}

describe('parquet dataset', () => {
  it('reads the FineWeb fixture (ZSTD pages, three row groups) in order, with its ids', async () => {
    const { dataset, logger } = await createDataset('parquet', { path: 'fineweb-sample.parquet' });
    const documents = await readAll(dataset);
    assert.deepEqual(
      documents,
      web.map((r) => ({ id: r.id, text: r.text })),
    );
    assert.deepEqual(await readAll(dataset), documents, 'a second pass yields the same documents');
    assert.deepEqual(logger.lines, []);
    assert.equal(dataset.name, 'parquet');
    assert.deepEqual(dataset.provenance.settings, {
      path: join(FIXTURES, 'fineweb-sample.parquet'),
      files: 1,
      textColumn: 'text',
      idColumn: 'id',
      messagesColumn: null,
    });
  });

  it('reads LMSYS-Chat conversations from a list<struct<content, role>> column (GZIP pages)', async () => {
    const { dataset } = await createDataset('parquet', {
      path: 'lmsys-chat-sample.parquet',
      messagesColumn: 'conversation',
      idColumn: 'conversation_id',
    });
    const documents = await readAll(dataset);
    assert.deepEqual(
      documents,
      chat.map((r) => ({
        id: r.conversation_id,
        messages: r.conversation.map(({ role, content }) => ({ role, content })),
      })),
    );
  });

  it('reads a folder of shards in name order, each by row group, skipping other and hidden files', async () => {
    const dir = tempDir();
    // Written out of order: the order read is the names', not the directory's.
    writeFileSync(
      join(dir, '001_00000.parquet'),
      writeParquet(shard(['b0', 'b1', 'b2', 'b3', 'b4'], 'b'), { rowGroupSize: 2 }),
    );
    writeFileSync(
      join(dir, '000_00000.parquet'),
      writeParquet(shard(['a0', 'a1', 'a2'], 'a'), { rowGroupSize: 1, codec: ZSTD_STORED }),
    );
    writeFileSync(join(dir, '002_00000.parquet'), writeParquet(shard(['c0'], 'c'), { codec: GZIP }));
    writeFileSync(join(dir, '.000_00000.parquet'), 'partial download');
    writeFileSync(join(dir, 'README.md'), '# not data');
    mkdirSync(join(dir, 'nested'));
    writeFileSync(join(dir, 'nested', '000.parquet'), writeParquet(shard(['nested'], 'n')));
    const { dataset } = await createDataset('parquet', { path: dir });
    const documents = await readAll(dataset);
    assert.deepEqual(
      documents.map((d) => d.id),
      ['a-0', 'a-1', 'a-2', 'b-0', 'b-1', 'b-2', 'b-3', 'b-4', 'c-0'],
    );
    assert.deepEqual(
      documents.map((d) => d.text),
      ['a0', 'a1', 'a2', 'b0', 'b1', 'b2', 'b3', 'b4', 'c0'],
    );
    assert.deepEqual(await readAll(dataset), documents);
    assert.equal(dataset.provenance.settings?.files, 3);
  });

  it('follows symbolic links to shards, as in a Hugging Face cache snapshot', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'blobs'));
    mkdirSync(join(dir, 'snapshot'));
    writeFileSync(join(dir, 'blobs', '9f2c'), writeParquet(shard(['linked'], 'l')));
    symlinkSync(join(dir, 'blobs', '9f2c'), join(dir, 'snapshot', 'train-00000-of-00001.parquet'));
    const { dataset } = await createDataset('parquet', { path: join(dir, 'snapshot') });
    assert.deepEqual(await readAll(dataset), [{ id: 'l-0', text: 'linked' }]);
  });

  it('uses content hashes when the file has no id column or idColumn is null, and integer ids as strings', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'no-id.parquet'), writeParquet([{ name: 'text', type: 'string', values: ['one', 'two'] }]));
    writeFileSync(
      join(dir, 'int-id.parquet'),
      writeParquet([
        { name: 'text', type: 'string', values: ['one', 'two'] },
        { name: 'doc', type: 'int64', values: [10n, 2n ** 60n] },
      ]),
    );
    const noId = await createDataset('parquet', { path: join(dir, 'no-id.parquet') });
    assert.deepEqual(await readAll(noId.dataset), [
      { id: contentId({ text: 'one' }), text: 'one' },
      { id: contentId({ text: 'two' }), text: 'two' },
    ]);
    assert.match(noId.logger.lines.join('\n'), /has no column "id": document ids are content hashes/);
    const idNull = await createDataset('parquet', { path: 'fineweb-sample.parquet', idColumn: null });
    assert.deepEqual(
      (await readAll(idNull.dataset)).map((d) => d.id),
      web.map((r) => contentId({ text: r.text })),
    );
    const intId = await createDataset('parquet', { path: join(dir, 'int-id.parquet'), idColumn: 'doc' });
    assert.deepEqual(
      (await readAll(intId.dataset)).map((d) => d.id),
      ['10', String(2n ** 60n)],
    );
  });

  it('stops early without leaking the file and honours an abort signal', async () => {
    const { dataset } = await createDataset('parquet', { path: 'fineweb-sample.parquet' });
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
    const dir = tempDir();
    const file = (name: string, bytes: Uint8Array | string) => {
      writeFileSync(join(dir, name), bytes);
      return join(dir, name);
    };

    it('a missing path', async () => {
      assert.match(
        await errorOf('parquet', { path: 'nowhere/sample-10BT' }),
        /^dataset "parquet": .*nowhere\/sample-10BT does not exist: check the dataset's options.path \(relative paths start at the config file's folder\)$/,
      );
    });

    it('a folder without parquet files', async () => {
      const empty = join(dir, 'empty');
      mkdirSync(empty);
      writeFileSync(join(empty, 'data.csv'), 'text\nhello\n');
      assert.equal(
        await errorOf('parquet', { path: empty }),
        `dataset "parquet": folder ${empty} holds no parquet files (*.parquet; subfolders are not searched): point options.path at the folder that holds the shards, or at one file`,
      );
    });

    it('an empty file', async () => {
      const path = file('empty.parquet', '');
      assert.equal(
        await errorOf('parquet', { path }),
        `${path} is empty (0 bytes): the download or the write that made it did not finish; fetch or write it again`,
      );
    });

    it('a file that is not parquet, a Git LFS pointer, JSON Lines', async () => {
      const garbage = file('garbage.parquet', 'this is not a parquet file at all, just some text');
      assert.equal(
        await errorOf('parquet', { path: garbage }),
        `${garbage} is not a readable parquet file (it does not start with the parquet magic bytes PAR1): it is damaged or was cut short; download or write it again`,
      );
      const pointer = file(
        'lfs.parquet',
        'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a2146\nsize 2147483648\n',
      );
      assert.match(
        await errorOf('parquet', { path: pointer }),
        /lfs\.parquet is not a readable parquet file .*: it looks like a Git LFS pointer, not the data: run `git lfs pull`/,
      );
      const jsonl = file('lines.parquet', '{"text": "hello"}\n');
      assert.match(
        await errorOf('parquet', { path: jsonl }),
        /it looks like JSON text: use the jsonl dataset component/,
      );
    });

    it('a file cut short, reported when its shard is reached', async () => {
      const whole = readFileSync(join(FIXTURES, 'fineweb-sample.parquet'));
      const shards = join(dir, 'cut');
      mkdirSync(shards);
      writeFileSync(join(shards, '000.parquet'), whole);
      writeFileSync(join(shards, '001.parquet'), whole.subarray(0, whole.length - 100));
      const { dataset } = await createDataset('parquet', { path: shards });
      const seen: string[] = [];
      await assert.rejects(
        async () => {
          for await (const document of dataset.documents()) seen.push(document.id);
        },
        (error: Error) => {
          assert.match(
            error.message,
            /^.*001\.parquet is not a readable parquet file \(.+\): it is damaged or was cut short; download or write it again$/,
          );
          return true;
        },
      );
      assert.equal(seen.length, web.length, 'the whole first shard is read before the damaged one fails');
    });

    it('a damaged column chunk names the row group and its rows', async () => {
      const bytes = writeParquet([{ name: 'text', type: 'string', values: ['first', 'second', 'third', 'fourth'] }], {
        rowGroupSize: 2,
        codec: ZSTD_STORED,
      });
      const magic = Buffer.from(bytes).lastIndexOf(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])); // the last zstd frame: row group 1's page
      bytes[magic + 9]! |= 0b110; // its first block's type: 3, reserved, which no decoder accepts
      const path = file('damaged.parquet', bytes);
      const message = await errorOf('parquet', { path });
      assert.match(
        message,
        /damaged\.parquet: row group 1 \(rows 2-3\) cannot be read \(.+\): the file is damaged or uses a feature this reader lacks; download it again, or rewrite it with pyarrow/,
      );
    });

    it('a missing column lists the columns the file has', async () => {
      assert.equal(
        await errorOf('parquet', { path: 'fineweb-sample.parquet', textColumn: 'content' }),
        `${join(FIXTURES, 'fineweb-sample.parquet')} has no column "content" (its columns: text, id, dump, url, date, file_path, language, language_score, token_count): set the dataset's textColumn option to one of them`,
      );
      assert.match(
        await errorOf('parquet', { path: 'fineweb-sample.parquet', messagesColumn: 'conversation' }),
        /has no column "conversation" \(its columns: text, id, .*\): set the dataset's messagesColumn option to one of them/,
      );
    });

    it('columns of the wrong type', async () => {
      assert.match(
        await errorOf('parquet', { path: 'fineweb-sample.parquet', textColumn: 'token_count' }),
        /fineweb-sample\.parquet: column "token_count" holds INT64 values, not strings: set textColumn to the column holding the document text$/,
      );
      assert.match(
        await errorOf('parquet', { path: 'fineweb-sample.parquet', idColumn: 'language_score' }),
        /column "language_score" holds DOUBLE values; ids must be strings or integers: set idColumn to another column, or to null for content-hash ids$/,
      );
      assert.match(
        await errorOf('parquet', { path: 'fineweb-sample.parquet', messagesColumn: 'text' }),
        /column "text" holds BYTE_ARRAY \(UTF8\) values, not a list of \{role, content\} structs: set messagesColumn to the conversation column, or to null to read textColumn$/,
      );
    });

    it('a null text names its row group and row', async () => {
      const path = file(
        'null.parquet',
        writeParquet([{ name: 'text', type: 'string', values: ['a', 'b', null] }], { rowGroupSize: 2 }),
      );
      assert.equal(
        await errorOf('parquet', { path }),
        `${path}: row group 1, row 2: column "text" is null, not a string: remove or fill the records without one before reading (e.g. with pyarrow, pandas or duckdb)`,
      );
    });

    it('text that is not UTF-8 names its row group and row', async () => {
      const latin1 = Uint8Array.of(0x63, 0x61, 0x66, 0xe9); // "café" in Latin-1
      const path = file(
        'latin1.parquet',
        writeParquet([{ name: 'text', type: 'string', values: ['ok', 'fine', 'good', latin1] }], {
          rowGroupSize: 3,
          codec: GZIP,
        }),
      );
      assert.equal(
        await errorOf('parquet', { path }),
        `${path}: row group 1, row 3: column "text" is not valid UTF-8: re-encode the data as UTF-8`,
      );
    });
  });
});
