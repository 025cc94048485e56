/**
 * Writes the committed fixtures in `plugins/datasets/fixtures/` from `sample-corpus.ts`:
 *
 *   node plugins/datasets/dist/testing/make-fixtures.js
 *
 * Compression comes from the real `zstd` and `lz4` command-line tools (needed only here, never by the tests), so
 * the readers are tested on what real compressors produce, not only on the stored blocks the test writers emit:
 *
 * - fineweb-sample.parquet: FineWeb's schema, three row groups, every page ZSTD-compressed.
 * - lmsys-chat-sample.parquet: LMSYS-Chat's schema with its list<struct<content, role>> conversation, GZIP pages.
 * - fineweb-sample.feather: Arrow IPC file format (Feather v2) with LZ4-frame buffers as pyarrow writes by
 *   default, in 64 KiB linked blocks (lz4 -B4 -BD, the lz4 library's defaults), two record batches, one long document.
 * - lmsys-chat-sample.arrows: Arrow IPC stream format, uncompressed, two record batches.
 * - lmsys-chat-sample.jsonl: the same conversations as JSON Lines.
 * - linked-blocks.txt.lz4: longDocument() alone as one LZ4 frame, for the LZ4 decoder's own test.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { CompressionType, compressionRegistry } from 'apache-arrow';
import { fineWebTable, inBatches, lmsysTable, writeIpc } from './arrow-tables.js';
import { FIXTURES } from './fixtures-path.js';
import { writeParquet, type PageCodec } from './parquet-writer.js';
import { fineWebRows, lmsysRows, longDocument } from './sample-corpus.js';

const tool =
  (command: string, args: string[]) =>
  (input: Uint8Array): Uint8Array =>
    new Uint8Array(execFileSync(command, args, { input }));
const zstd = tool('zstd', ['-q', '-c', '-19', '--no-check']);
const lz4 = tool('lz4', ['-q', '-c', '-B4', '-BD']);

function main(): void {
  mkdirSync(FIXTURES, { recursive: true });
  const web = fineWebRows();
  const zstdPages: PageCodec = { id: 6, compress: zstd };
  writeFileSync(
    `${FIXTURES}fineweb-sample.parquet`,
    writeParquet(
      [
        { name: 'text', type: 'string', values: web.map((r) => r.text) },
        { name: 'id', type: 'string', values: web.map((r) => r.id) },
        { name: 'dump', type: 'string', values: web.map((r) => r.dump) },
        { name: 'url', type: 'string', values: web.map((r) => r.url) },
        { name: 'date', type: 'string', values: web.map((r) => r.date) },
        { name: 'file_path', type: 'string', values: web.map((r) => r.file_path) },
        { name: 'language', type: 'string', values: web.map((r) => r.language) },
        { name: 'language_score', type: 'double', values: web.map((r) => r.language_score) },
        { name: 'token_count', type: 'int64', values: web.map((r) => r.token_count) },
      ],
      { rowGroupSize: 3, codec: zstdPages },
    ),
  );

  const chat = lmsysRows();
  writeFileSync(
    `${FIXTURES}lmsys-chat-sample.parquet`,
    writeParquet(
      [
        { name: 'conversation_id', type: 'string', values: chat.map((r) => r.conversation_id) },
        { name: 'model', type: 'string', values: chat.map((r) => r.model) },
        { name: 'conversation', type: 'messages', values: chat.map((r) => r.conversation) },
        { name: 'turn', type: 'int64', values: chat.map((r) => r.turn) },
        { name: 'language', type: 'string', values: chat.map((r) => r.language) },
      ],
      { rowGroupSize: 2, codec: { id: 2, compress: (page) => gzipSync(page) } },
    ),
  );

  compressionRegistry.set(CompressionType.LZ4_FRAME, { encode: lz4 });
  writeFileSync(
    `${FIXTURES}fineweb-sample.feather`,
    writeIpc(inBatches(fineWebTable(fineWebRows({ long: true })), 4), 'file', CompressionType.LZ4_FRAME),
  );
  writeFileSync(`${FIXTURES}lmsys-chat-sample.arrows`, writeIpc(inBatches(lmsysTable(chat), 3), 'stream'));
  writeFileSync(
    `${FIXTURES}lmsys-chat-sample.jsonl`,
    `${chat.map((r) => JSON.stringify({ ...r, turn: Number(r.turn) })).join('\n')}\n`,
  );
  writeFileSync(`${FIXTURES}linked-blocks.txt.lz4`, lz4(new TextEncoder().encode(longDocument())));
}

main();
