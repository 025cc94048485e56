import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isExpgenError, type SourceDocument } from '@expgen/contract';
import { fakeTokenizer } from '@expgen/contract/testing';
import { DocumentWindower, type WindowingOptions } from './windows.js';

const tokenizer = fakeTokenizer();
/** The fake tokenizer's ids: <bos> 0, <eos> 1, <pad> 2, byte b is b + 3. */
const ids = (text: string) => Array.from(Buffer.from(text, 'utf8'), (b) => b + 3);
const PAD = 1;

function windower(options: Partial<WindowingOptions> = {}): DocumentWindower {
  return new DocumentWindower({
    tokenizer,
    seqLen: 5,
    prefix: null,
    rankPrefix: false,
    windowsPerDocument: 1,
    shortDocuments: 'skip',
    chatDate: '26 Jul 2024',
    ...options,
  });
}

/** Every window of a document: [tokens, length, rankFrom]. */
function windowsOf(
  w: DocumentWindower,
  document: SourceDocument,
): { tokens: number[]; length: number; rankFrom: number }[] | string {
  const cut = w.cut(document, `dataset "d": document ${JSON.stringify(document.id)}`);
  if (cut.kind === 'skipped') return cut.reason;
  return Array.from({ length: cut.windows }, (_, i) => {
    const out = new Int32Array(w.seqLen).fill(-7);
    const filled = w.fill(cut, i, out, PAD);
    assert.equal(w.lengthOf(cut, i), filled.length);
    return { tokens: Array.from(out), ...filled };
  });
}

describe('DocumentWindower', () => {
  it('cuts web text into consecutive windows after BOS when there is no prefix, dropping the tail', () => {
    const w = windower({ windowsPerDocument: 3 });
    assert.deepEqual(w.prefixTokens, Int32Array.of(0));
    assert.deepEqual(windowsOf(w, { id: 'a', text: 'abcdefghij' }), [
      { tokens: [0, ...ids('abcd')], length: 5, rankFrom: 1 },
      { tokens: [0, ...ids('efgh')], length: 5, rankFrom: 1 },
    ]);
    // At most windowsPerDocument, from the start.
    assert.deepEqual(windowsOf(windower({ windowsPerDocument: 1 }), { id: 'a', text: 'abcdefghij' }), [
      { tokens: [0, ...ids('abcd')], length: 5, rankFrom: 1 },
    ]);
    assert.equal(
      (
        windowsOf(windower({ windowsPerDocument: 3, rankPrefix: true }), { id: 'a', text: 'abcdefghij' }) as {
          rankFrom: number;
        }[]
      )[1]!.rankFrom,
      0,
    );
  });

  it('uses a prefix exactly as encoded with its control tokens, and data special-token strings stay text', () => {
    const w = windower({ seqLen: 8, prefix: '<bos>P:', windowsPerDocument: 2 });
    assert.deepEqual(Array.from(w.prefixTokens), [0, ...ids('P:')]);
    assert.equal(w.textSpan, 5);
    assert.deepEqual(windowsOf(w, { id: 'x', text: '<eos>1234567' }), [
      { tokens: [0, ...ids('P:'), ...ids('<eos>')], length: 8, rankFrom: 3 },
      { tokens: [0, ...ids('P:'), ...ids('12345')], length: 8, rankFrom: 3 },
    ]);
    // A prefix without <bos> gets none added; an empty prefix is no prefix at all.
    assert.deepEqual(Array.from(windower({ prefix: 'Q' }).prefixTokens), ids('Q'));
    assert.deepEqual(windowsOf(windower({ prefix: '' }), { id: 'y', text: 'abcde' }), [
      { tokens: ids('abcde'), length: 5, rankFrom: 0 },
    ]);
  });

  it('renders chat with the template and cuts it to seqLen with no prefix; a leading BOS does not rank', () => {
    const w = windower({ seqLen: 6, prefix: '<bos>P:', windowsPerDocument: 5 });
    const messages = [
      { role: 'user', content: '<bos>hi' },
      { role: 'assistant', content: 'yo' },
    ];
    const rendered = tokenizer.encodeChat(messages, { date: '26 Jul 2024' });
    assert.ok(rendered.length > 12 && rendered[0] === 0);
    assert.equal(rendered.filter((t) => t === 0).length, 1, 'content stays text');
    const windows = windowsOf(w, { id: 'c', messages }) as { tokens: number[]; length: number; rankFrom: number }[];
    assert.equal(windows.length, Math.min(5, Math.floor(rendered.length / 6)));
    windows.forEach((win, i) => {
      assert.deepEqual(win.tokens, rendered.slice(i * 6, i * 6 + 6));
      assert.equal(win.length, 6);
      assert.equal(win.rankFrom, i === 0 ? 1 : 0);
    });
    const ranked = windowsOf(windower({ seqLen: 6, rankPrefix: true }), { id: 'c', messages }) as {
      rankFrom: number;
    }[];
    assert.equal(ranked[0]!.rankFrom, 0);
  });

  it('skips short documents, or pads them to one window that never counts past its length', () => {
    assert.equal(windowsOf(windower(), { id: 's', text: 'abc' }), 'short');
    assert.deepEqual(windowsOf(windower({ shortDocuments: 'pad', windowsPerDocument: 4 }), { id: 's', text: 'abc' }), [
      { tokens: [0, ...ids('abc'), PAD], length: 4, rankFrom: 1 },
    ]);
    const chat = windowsOf(windower({ seqLen: 64, shortDocuments: 'pad' }), {
      id: 'c',
      messages: [{ role: 'user', content: 'x' }],
    });
    const rendered = tokenizer.encodeChat([{ role: 'user', content: 'x' }], { date: '26 Jul 2024' });
    assert.deepEqual(chat, [
      { tokens: [...rendered, ...new Array(64 - rendered.length).fill(PAD)], length: rendered.length, rankFrom: 1 },
    ]);
    assert.equal(windowsOf(windower({ seqLen: 64 }), { id: 'c', messages: [{ role: 'user', content: 'x' }] }), 'short');
    // Nothing to rank: empty documents are skipped under either setting.
    assert.equal(windowsOf(windower({ shortDocuments: 'pad' }), { id: 'e', text: '' }), 'empty');
    assert.equal(windowsOf(windower({ shortDocuments: 'pad' }), { id: 'e', messages: [] }), 'empty');
    // Exactly one window is not short.
    assert.deepEqual(windowsOf(windower(), { id: 'f', text: 'abcd' }), [
      { tokens: [0, ...ids('abcd')], length: 5, rankFrom: 1 },
    ]);
  });

  it('names the dataset and document of a document that is neither text nor chat', () => {
    const w = windower();
    const rejects = (document: unknown, pattern: RegExp) =>
      assert.throws(
        () => w.cut(document as SourceDocument, 'dataset "web": document "d7"'),
        (e: unknown) => isExpgenError(e) && pattern.test((e as Error).message),
      );
    rejects({ id: 'd7' }, /^dataset "web": document "d7" has neither text nor messages$/);
    rejects({ id: 'd7', text: 'a', messages: [] }, /^dataset "web": document "d7" has both text and messages/);
    rejects({ id: 'd7', text: 5 }, /^dataset "web": document "d7": text must be a string/);
    rejects({ id: 'd7', messages: [{ role: 'user' }] }, /^dataset "web": document "d7": message 0 /);
  });

  it('rejects a prefix that leaves no room for the document', () => {
    for (const prefix of ['<bos>abcd', '<bos>abcdefg']) {
      assert.throws(
        () => windower({ prefix }),
        (e: unknown) =>
          isExpgenError(e) &&
          /^exemplars\.prefix: the prefix is \d+ tokens but exemplars\.seqLen is 5/.test((e as Error).message),
      );
    }
    assert.equal(windower({ prefix: '<bos>abc' }).textSpan, 1);
    assert.throws(() => windower({ seqLen: 1 }), /exemplars\.seqLen/);
    assert.throws(() => windower({ windowsPerDocument: 0 }), /exemplars\.windowsPerDocument/);
    assert.throws(() => windower({ shortDocuments: 'drop' as 'skip' }), /exemplars\.shortDocuments/);
  });
});
