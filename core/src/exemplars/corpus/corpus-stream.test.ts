import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configSchema } from '../../config/config-schema.js';
import { isExpgenError, type DatasetSource, type SourceDocument } from '@expgen/contract';
import { fakeDataset, fakeTokenizer } from '@expgen/contract/testing';
import { CorpusStream, parseShard, type CorpusOptions, type CorpusSequence } from './corpus-stream.js';
import { documentSplit, splitAssignment } from './splits.js';

function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const tokenizer = fakeTokenizer();
const SEQ_LEN = 8;

/** Web-text documents of 0..30 bytes (so some are short or empty) and, every fifth, a chat. */
function documents(prefix: string, count: number, seed: number): SourceDocument[] {
  const random = generator(seed);
  return Array.from({ length: count }, (_, i) => {
    const length = Math.floor(random() * 31);
    const text = Array.from({ length }, () => String.fromCharCode(97 + Math.floor(random() * 26))).join('');
    if (i % 5 === 4) return { id: `${prefix}-${i}`, messages: [{ role: 'user', content: text }] };
    return { id: `${prefix}-${i}`, text };
  });
}

function options(overrides: Partial<CorpusOptions> = {}): CorpusOptions {
  return {
    tokenizer,
    sources: [
      { source: fakeDataset(documents('a', 400, 1), 'web'), ratio: 1 },
      { source: fakeDataset(documents('b', 400, 2), 'chat'), ratio: 2 },
      { source: fakeDataset(documents('c', 400, 3), 'more'), ratio: 3 },
    ],
    seqLen: SEQ_LEN,
    prefix: null,
    rankPrefix: false,
    windowsPerDocument: 2,
    shortDocuments: 'skip',
    splits: { train: 1, valid: 1, test: 1 },
    sequences: 300,
    seed: 0,
    chatDate: '26 Jul 2024',
    ...overrides,
  };
}

async function collect(stream: CorpusStream): Promise<CorpusSequence[]> {
  const out: CorpusSequence[] = [];
  for await (const sequence of stream.sequences()) out.push(sequence);
  return out;
}

async function rejectsWith(promiseOrFn: Promise<unknown> | (() => unknown), pattern: RegExp): Promise<void> {
  const check = (e: unknown) => isExpgenError(e) && pattern.test((e as Error).message);
  if (typeof promiseOrFn === 'function') assert.throws(promiseOrFn as () => unknown, check);
  else await assert.rejects(promiseOrFn, check);
}

describe('CorpusStream', () => {
  it('numbers sequences from 0 and records where each came from', async () => {
    const stream = new CorpusStream(options());
    const all = await collect(stream);
    assert.equal(all.length, 300);
    assert.deepEqual(
      all.map((s) => s.sequenceId),
      all.map((_, i) => i),
    );
    assert.deepEqual(stream.end, { reason: 'completed', sequences: 300, requested: 300 });
    assert.deepEqual(stream.datasetNames, ['chat', 'more', 'web']);
    const assignment = splitAssignment({ train: 1, valid: 1, test: 1 });
    for (const s of all) {
      assert.equal(s.datasetName, ['web', 'chat', 'more'][s.sourceIndex]);
      assert.equal(stream.datasetNames[s.datasetIndex], s.datasetName);
      assert.equal(s.split, documentSplit(assignment, 0, s.documentId));
      assert.equal(s.tokens.length, SEQ_LEN);
      assert.equal(s.length, SEQ_LEN, 'skip mode: full windows only');
      assert.ok(s.window === 0 || s.window === 1);
    }
    // A document's windows follow each other within its source, window 0 first.
    const bySource = [0, 1, 2].map((i) => all.filter((s) => s.sourceIndex === i));
    for (const rows of bySource) {
      rows.forEach((s, k) => {
        if (s.window === 1) assert.deepEqual([rows[k - 1]!.documentId, rows[k - 1]!.window], [s.documentId, 0]);
      });
    }
    const counts = stream.counts();
    assert.equal(counts.sequences, 300);
    assert.equal(counts.tokens, 300 * SEQ_LEN);
    assert.deepEqual(counts.emitted, { sequences: 300, tokens: 300 * SEQ_LEN });
    assert.equal(counts.splits.train + counts.splits.valid + counts.splits.test, 300);
    for (const split of ['train', 'valid', 'test'] as const)
      assert.equal(counts.splits[split], all.filter((s) => s.split === split).length);
    assert.deepEqual(
      counts.sources.map((c) => c.sequences),
      bySource.map((rows) => rows.length),
    );
    for (const c of counts.sources) assert.ok(c.skippedShort + c.skippedEmpty > 0 && c.documents > c.skippedShort);
  });

  it('cuts windows exactly: prefix + window for text, the template for chat', async () => {
    const web: SourceDocument[] = [
      { id: 'w', text: 'abcdefghijk' },
      { id: 'c', messages: [{ role: 'user', content: 'hello there' }] },
    ];
    const stream = new CorpusStream(
      options({
        sources: [{ source: fakeDataset(web, 'web') }],
        prefix: '<bos>>',
        seqLen: 6,
        windowsPerDocument: 2,
        sequences: 4,
      }),
    );
    const all = await collect(stream);
    const bytes = (t: string) => Array.from(Buffer.from(t), (b) => b + 3);
    const chat = tokenizer.encodeChat([{ role: 'user', content: 'hello there' }], { date: '26 Jul 2024' });
    assert.deepEqual(
      all.map((s) => [s.documentId, s.window, Array.from(s.tokens), s.rankFrom]),
      [
        ['w', 0, [0, ...bytes('>abcd')], 2],
        ['w', 1, [0, ...bytes('>efgh')], 2],
        ['c', 0, chat.slice(0, 6), 1],
        ['c', 1, chat.slice(6, 12), 0],
      ],
    );
  });

  it('draws sources in exact ratios: every prefix within 1 of the ideal', async () => {
    const all = await collect(new CorpusStream(options()));
    const counts = [0, 0, 0];
    all.forEach((s, n) => {
      counts[s.sourceIndex]!++;
      counts.forEach((c, i) => {
        assert.ok(Math.abs(6 * c - (n + 1) * (i + 1)) < 6, `after ${n + 1}: ${counts.join(':')}`);
      });
    });
    assert.deepEqual(counts, [50, 100, 150]);
  });

  it('stops and says which source ran out instead of carrying on with the others', async () => {
    const stream = new CorpusStream(
      options({
        sources: [
          { source: fakeDataset(documents('a', 400, 1), 'web'), ratio: 1 },
          { source: fakeDataset(documents('b', 12, 2), 'small'), ratio: 1 },
        ],
        sequences: 1000,
      }),
    );
    const all = await collect(stream);
    const end = stream.end;
    assert.ok(end && end.reason === 'source-exhausted');
    const small = all.filter((s) => s.sourceIndex === 1).length;
    assert.equal(end.source.name, 'small');
    assert.equal(end.source.index, 1);
    assert.equal(end.source.documents, 12);
    assert.equal(end.source.sequences, small);
    assert.equal(end.sequences, all.length);
    assert.equal(end.requested, 1000);
    // The ratio held to the end: 1:1 means the web source is at most one ahead.
    assert.ok(all.length - small - small <= 1);
    assert.match(
      end.message,
      /^dataset "small" ran out of documents after \d+ sequences from 12 documents; the stream stopped at \d+ of 1000/,
    );
    assert.equal(stream.counts().sources[1]!.documents, 12);
  });

  it('refuses a dataset that yields no sequence at all, empty or all skipped, naming it and why', async () => {
    const empty = new CorpusStream(options({ sources: [{ source: fakeDataset([], 'nothing'), ratio: 1 }] }));
    await rejectsWith(collect(empty), /^dataset "nothing" yields no sequence: it has no documents; check its files/);
    const blank = [
      { id: 'e', text: '' },
      { id: 's', text: 'ab' },
    ];
    const skipped = new CorpusStream(
      options({
        sources: [
          { source: fakeDataset(documents('a', 40, 1), 'web'), ratio: 1 },
          { source: fakeDataset(blank, 'blank'), ratio: 1 },
        ],
      }),
    );
    await rejectsWith(
      collect(skipped),
      /^dataset "blank" yields no sequence: its 2 document\(s\) were all skipped \(1 empty, 1 shorter than one window/,
    );
  });

  it('shards partition the ids, merge into the unsharded stream, and report the same global counts', async () => {
    const whole = new CorpusStream(options({ sequences: 200 }));
    const expected = await collect(whole);
    const merged: CorpusSequence[] = [];
    for (let index = 0; index < 3; index++) {
      const shard = new CorpusStream(options({ sequences: 200, shard: { index, count: 3 } }));
      const rows = await collect(shard);
      assert.ok(rows.every((s) => s.sequenceId % 3 === index));
      merged.push(...rows);
      const counts = shard.counts();
      assert.deepEqual({ ...counts, emitted: null }, { ...whole.counts(), emitted: null });
      assert.equal(counts.emitted.sequences, rows.length);
      assert.deepEqual(shard.end, whole.end);
    }
    merged.sort((a, b) => a.sequenceId - b.sequenceId);
    assert.deepEqual(merged, expected);
  });

  it('resumes after skipSequences with exactly the uninterrupted sequences and counts', async () => {
    const overrides = { sequences: 150, shortDocuments: 'pad' as const, windowsPerDocument: 3 };
    const whole = new CorpusStream(options(overrides));
    const expected = await collect(whole);
    for (const skip of [0, 1, 77, 149, 150]) {
      const resumed = new CorpusStream(options({ ...overrides, skipSequences: skip }));
      assert.deepEqual(await collect(resumed), expected.slice(skip));
      assert.deepEqual({ ...resumed.counts(), emitted: null }, { ...whole.counts(), emitted: null });
    }
    // Resuming a shard: global ids.
    const shard = new CorpusStream(options({ ...overrides, skipSequences: 40, shard: { index: 1, count: 4 } }));
    assert.deepEqual(
      await collect(shard),
      expected.filter((s) => s.sequenceId >= 40 && s.sequenceId % 4 === 1),
    );
  });

  it('gives a document the same split wherever it appears', async () => {
    const docs = documents('d', 300, 9);
    const random = generator(4);
    const shuffled = docs
      .map((d) => [random(), d] as const)
      .sort((a, b) => a[0] - b[0])
      .map(([, d]) => d);
    const run = async (list: SourceDocument[], name: string) =>
      new Map(
        (
          await collect(
            new CorpusStream(options({ sources: [{ source: fakeDataset(list, name) }], sequences: 100_000 })),
          )
        ).map((s) => [s.documentId, s.split]),
      );
    const a = await run(docs, 'x');
    const b = await run(shuffled, 'y');
    assert.ok(a.size > 100);
    assert.deepEqual(new Map([...b].sort()), new Map([...a].sort()));
    const splits = new Set(a.values());
    assert.equal(splits.size, 3);
  });

  it('counts skipped short documents per source, or pads them', async () => {
    const docs: SourceDocument[] = [
      { id: '1', text: 'abcdefghijklmnopq' }, // 17 bytes: two windows of 7 (tail of 3 dropped)
      { id: '2', text: 'abc' }, // short
      { id: '3', text: '' }, // empty
      { id: '4', text: 'abcdefg' }, // exactly one window
    ];
    const skip = new CorpusStream(options({ sources: [{ source: fakeDataset(docs, 'w') }], sequences: 10 }));
    assert.deepEqual(
      (await collect(skip)).map((s) => [s.documentId, s.window, s.length]),
      [
        ['1', 0, 8],
        ['1', 1, 8],
        ['4', 0, 8],
      ],
    );
    assert.deepEqual(skip.counts().sources[0], {
      name: 'w',
      ratio: 1,
      documents: 4,
      skippedShort: 1,
      skippedEmpty: 1,
      sequences: 3,
      tokens: 24,
    });
    assert.equal(skip.end?.reason, 'source-exhausted');

    const pad = new CorpusStream(
      options({ sources: [{ source: fakeDataset(docs, 'w') }], sequences: 10, shortDocuments: 'pad' }),
    );
    const padded = await collect(pad);
    assert.deepEqual(
      padded.map((s) => [s.documentId, s.window, s.length, s.rankFrom]),
      [
        ['1', 0, 8, 1],
        ['1', 1, 8, 1],
        ['2', 0, 4, 1],
        ['4', 0, 8, 1],
      ],
    );
    assert.deepEqual(Array.from(padded[2]!.tokens), [0, 100, 101, 102, 1, 1, 1, 1]);
    assert.deepEqual(pad.counts().sources[0]!.skippedShort, 0);
    assert.deepEqual(pad.counts().sources[0]!.skippedEmpty, 1);
  });

  it('batches rows right-padded for forward, the last batch smaller', async () => {
    const stream = new CorpusStream(
      options({ sequences: 61, shortDocuments: 'pad', padId: 2, shard: { index: 0, count: 2 } }),
    );
    const batches = [];
    for await (const batch of stream.batches(5)) batches.push(batch);
    assert.deepEqual(
      batches.map((b) => b.batch),
      [5, 5, 5, 5, 5, 5, 1],
    );
    for (const b of batches) {
      assert.equal(b.tokens.length, b.batch * SEQ_LEN);
      b.sequences.forEach((s, r) => {
        assert.deepEqual(b.tokens.subarray(r * SEQ_LEN, (r + 1) * SEQ_LEN), s.tokens);
        assert.equal(b.lengths[r], s.length);
        assert.equal(b.rankFrom[r], s.rankFrom);
        assert.ok(s.tokens.subarray(s.length).every((t) => t === 2));
      });
    }
    assert.ok(batches.flatMap((b) => b.sequences).some((s) => s.length < SEQ_LEN));
    assert.deepEqual(
      batches.flatMap((b) => b.sequences.map((s) => s.sequenceId)),
      Array.from({ length: 31 }, (_, i) => 2 * i),
    );
    assert.equal(stream.end?.reason, 'completed');
    await rejectsWith(stream.batches(0).next(), /^exemplars\.batchSize/);
  });

  it('closes source iterators when it stops early, and is single use', async () => {
    let closed = 0;
    const source: DatasetSource = {
      provenance: fakeDataset([]).provenance,
      name: 'endless',
      documents() {
        let i = 0;
        return {
          [Symbol.asyncIterator]: () => ({
            next: async () => ({ done: false, value: { id: `e${i}`, text: `document number ${i++} has some text` } }),
            return: async () => {
              closed++;
              return { done: true as const, value: undefined };
            },
          }),
        };
      },
    };
    const stream = new CorpusStream(options({ sources: [{ source }], sequences: 5 }));
    assert.equal((await collect(stream)).length, 5);
    assert.equal(closed, 1);
    await assert.rejects(stream.sequences().next(), /iterated once/);
    // Abandoned mid-way (the consumer breaks out).
    const early = new CorpusStream(options({ sources: [{ source }], sequences: 50 }));
    for await (const s of early.sequences()) if (s.sequenceId === 2) break;
    assert.equal(closed, 2);
    assert.equal(early.end, null);
  });

  it('stops on abort', async () => {
    const controller = new AbortController();
    const stream = new CorpusStream(options({ signal: controller.signal }));
    await assert.rejects(
      async () => {
        for await (const s of stream.sequences()) if (s.sequenceId === 10) controller.abort();
      },
      { name: 'AbortError' },
    );
  });

  it('rejects bad documents and settings with one line naming what to fix', async () => {
    await rejectsWith(
      collect(
        new CorpusStream(
          options({ sources: [{ source: fakeDataset([{ id: 'ok', text: 'abcdefghij' }, { id: 'bad' }], 'web') }] }),
        ),
      ),
      /^dataset "web": document "bad" has neither text nor messages$/,
    );
    await rejectsWith(
      collect(
        new CorpusStream(options({ sources: [{ source: fakeDataset([{ id: '', text: 'abcdefghij' }], 'web') }] })),
      ),
      /^dataset "web": document #0 has no id/,
    );
    const failing: DatasetSource = {
      ...fakeDataset([], 'broken'),
      // biome-ignore lint/correctness/useYield: a source that fails before its first document
      async *documents() {
        throw new Error('disk on fire');
      },
    };
    // A source's own error passes unchanged; the run's container stamps it with the plugin and component.
    await assert.rejects(
      collect(new CorpusStream(options({ sources: [{ source: failing }] }))),
      /^Error: disk on fire$/,
    );
    const ds = (name: string) => fakeDataset([], name);
    await rejectsWith(
      () => new CorpusStream(options({ sources: [{ source: ds('a') }, { source: ds('b'), ratio: 0 }] })),
      /^datasets\[1\]\.ratio \(dataset "b"\): expected a finite number > 0, got 0$/,
    );
    await rejectsWith(
      () => new CorpusStream(options({ sources: [{ source: ds('a'), ratio: -2 }] })),
      /^datasets\[0\]\.ratio/,
    );
    await rejectsWith(
      () => new CorpusStream(options({ sources: [{ source: ds('a'), ratio: Number.NaN }] })),
      /^datasets\[0\]\.ratio/,
    );
    await rejectsWith(
      () => new CorpusStream(options({ sources: [{ source: ds('a') }, { source: ds('b'), name: 'a' }] })),
      /^datasets\[1\]\.name: "a" is also the name of datasets\[0\]/,
    );
    await rejectsWith(() => new CorpusStream(options({ sources: [] })), /^datasets:/);
    await rejectsWith(
      () => new CorpusStream(options({ splits: { train: 1, holdout: 1 } })),
      /^exemplars\.splits\.holdout: unknown split/,
    );
    await rejectsWith(
      () => new CorpusStream(options({ prefix: '<bos>0123456789' })),
      /^exemplars\.prefix: the prefix is 11 tokens but exemplars\.seqLen is 8/,
    );
    await rejectsWith(() => new CorpusStream(options({ skipSequences: 301 })), /^resume: skipSequences/);
    await rejectsWith(() => new CorpusStream(options({ shard: { index: 3, count: 3 } })), /^--shard/);
  });

  it('parses --shard i/N', () => {
    assert.deepEqual(parseShard('0/1'), { index: 0, count: 1 });
    assert.deepEqual(parseShard(' 3 / 8 '), { index: 3, count: 8 });
    for (const bad of ['1/1', '-1/2', '1', 'a/b', '0/0', '1.5/2'])
      assert.throws(
        () => parseShard(bad),
        (e: unknown) => isExpgenError(e) && /^--shard/.test((e as Error).message),
      );
  });

  it('takes the dataset name from the config over the source, and datasetIndex from the sorted names', async () => {
    const stream = new CorpusStream(
      options({
        sources: [
          { source: fakeDataset(documents('z', 50, 1), 'plugin-name'), name: 'zeta' },
          { source: fakeDataset(documents('a', 50, 2), 'alpha') },
        ],
        sequences: 10,
      }),
    );
    const all = await collect(stream);
    assert.deepEqual(stream.datasetNames, ['alpha', 'zeta']);
    assert.deepEqual(
      all.slice(0, 2).map((s) => [s.sourceIndex, s.datasetName, s.datasetIndex]),
      [
        [0, 'zeta', 1],
        [1, 'alpha', 0],
      ],
    );
  });

  it("takes the config's exemplars section as it is", async () => {
    const exemplars = configSchema.shape.exemplars.parse({ sequences: 6, seqLen: 12 });
    const stream = new CorpusStream({
      ...exemplars,
      tokenizer,
      sources: [{ source: fakeDataset(documents('a', 100, 1), 'web') }],
    });
    const all = await collect(stream);
    assert.equal(all.length, 6);
    assert.ok(all.every((s) => s.tokens[0] === 0 && s.rankFrom === 1 && s.window === 0));
  });
});
