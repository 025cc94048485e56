import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tableFromIPC, Type } from 'apache-arrow';
import { recordsToArrow, type RecordColumn } from './records-arrow.js';

const columns: RecordColumn[] = [
  { name: 'feature', type: 'utf8' },
  { name: 'score', type: 'float64' },
  { name: 'ci', type: 'float64-list' },
  { name: 'ok', type: 'bool' },
  { name: 'n', type: 'int32' },
  { name: 'settings', type: 'json' },
];

const nested: RecordColumn[] = [
  { name: 'feature', type: 'utf8' },
  {
    name: 'describer',
    type: {
      struct: [
        { name: 'component', type: 'utf8' },
        { name: 'plugin_version', type: 'utf8' },
        { name: 'settings', type: 'json' },
      ],
    },
  },
  {
    name: 'candidates',
    type: {
      list: {
        struct: [
          { name: 'description', type: 'utf8' },
          { name: 'seed', type: 'int64' },
        ],
      },
    },
  },
  { name: 'ranks', type: { list: 'int32' } },
  { name: 'usage', type: { struct: [{ name: 'prompt_tokens', type: 'int64' }] } },
];

describe('recordsToArrow', () => {
  it('writes typed, nullable columns that read back as written, deterministically', () => {
    const rows = [
      { feature: 'mlp/0/1', score: 0.5, ci: [0.25, 0.75], ok: true, n: 3, settings: { component: 'baseline' } },
      { feature: 'mlp/0/2', score: null, ci: null, ok: false, n: null, settings: null },
      { feature: 'mlp/0/3', score: Number.NaN, ci: [0.1, 0.2], ok: null, n: 0 },
    ];
    const bytes = recordsToArrow(columns, rows);
    assert.deepEqual(recordsToArrow(columns, rows), bytes, 'same rows, same bytes');
    assert.equal(Buffer.from(bytes.subarray(0, 6)).toString(), 'ARROW1', 'the IPC file format (Feather v2)');
    const table = tableFromIPC(bytes);
    assert.deepEqual(table.getChild('feature')!.toArray(), ['mlp/0/1', 'mlp/0/2', 'mlp/0/3']);
    assert.deepEqual(
      [...table.getChild('score')!.toArray()].map((v, i) => (table.getChild('score')!.isValid(i) ? v : null)),
      [0.5, null, null],
      'NaN is written as null',
    );
    assert.deepEqual([...(table.getChild('ci')!.get(0) as { toArray(): Float64Array }).toArray()], [0.25, 0.75]);
    assert.equal(table.getChild('ci')!.get(1), null);
    assert.equal(table.getChild('settings')!.get(0), '{"component":"baseline"}', 'an open map as JSON text');
  });

  it('writes nested records as structs and lists, typed to the leaves, with the schema metadata given', () => {
    const rows = [
      {
        feature: 'mlp/0/1',
        describer: { component: 'baseline', plugin_version: '0.1.0', settings: { max_tokens: 5 }, extra: 'dropped' },
        candidates: [
          { description: 'the token "a"', seed: 0 },
          { description: 'the tokens "a" and "b"', seed: 1 },
        ],
        ranks: [3, 1, 2],
        usage: { prompt_tokens: 2 ** 40 },
      },
      { feature: 'mlp/0/2', describer: null, candidates: [], ranks: null, usage: null },
    ];
    const bytes = recordsToArrow(nested, rows, { 'expgen.format': 'test/1', 'expgen.version': '9.9.9' });
    const table = tableFromIPC(bytes);
    const types = Object.fromEntries(table.schema.fields.map((f) => [f.name, String(f.type)]));
    assert.deepEqual(types, {
      feature: 'Utf8',
      describer: 'Struct<{component:Utf8, plugin_version:Utf8, settings:Utf8}>',
      candidates: 'List<Struct<{description:Utf8, seed:Int64}>>',
      ranks: 'List<Int32>',
      usage: 'Struct<{prompt_tokens:Int64}>',
    });
    assert.equal(table.schema.fields[1]!.type.typeId, Type.Struct);
    assert.deepEqual(Object.fromEntries(table.schema.metadata), {
      'expgen.format': 'test/1',
      'expgen.version': '9.9.9',
    });
    const first = table.get(0)!.toJSON() as Record<string, { toJSON(): unknown } | null>;
    assert.deepEqual(first.describer!.toJSON(), {
      component: 'baseline',
      plugin_version: '0.1.0',
      settings: '{"max_tokens":5}',
    });
    assert.deepEqual(
      JSON.parse(JSON.stringify(first.candidates, (_, v) => (typeof v === 'bigint' ? Number(v) : v))),
      rows[0]!.candidates,
    );
    assert.equal(table.getChild('usage')!.get(0)!.toJSON().prompt_tokens, BigInt(2 ** 40), 'int64 beyond 2^32');
    assert.equal(table.getChild('describer')!.get(1), null, 'a missing struct is null');
    assert.equal(table.getChild('candidates')!.get(1)!.length, 0, 'an empty list stays empty, not null');
    assert.deepEqual(recordsToArrow(nested, rows, { 'expgen.format': 'test/1', 'expgen.version': '9.9.9' }), bytes);
  });

  it('names the column of a value of the wrong shape', () => {
    assert.throws(
      () => recordsToArrow(nested, [{ feature: 'x', candidates: 'not a list' }]),
      /column "candidates": a list column got "not a list"/,
    );
  });

  it('writes many rows in record batches of 65,536, read back whole', () => {
    const rows = Array.from({ length: 65_536 + 10 }, (_, i) => ({ feature: `mlp/0/${i}`, ranks: [i, i + 1] }));
    const table = tableFromIPC(recordsToArrow(nested, rows));
    assert.deepEqual(
      table.batches.map((b) => b.numRows),
      [65_536, 10],
    );
    assert.equal(table.getChild('feature')!.get(65_540), 'mlp/0/65540');
    assert.deepEqual(
      [...(table.getChild('ranks')!.get(65_540) as { toArray(): Int32Array }).toArray()],
      [65_540, 65_541],
    );
  });

  it('writes struct columns as typed Arrow structs, fields nullable, a missing struct as null', () => {
    const struct: RecordColumn[] = [
      {
        name: 'scores_detection',
        type: {
          struct: [
            { name: 'score', type: 'float64' },
            { name: 'ci', type: 'float64-list' },
            { name: 'judgments', type: 'int32' },
          ],
        },
      },
    ];
    const table = tableFromIPC(
      recordsToArrow(struct, [
        { scores_detection: { score: 0.75, ci: [0.5, 1], judgments: 20 } },
        { scores_detection: { score: Number.NaN, ci: null, judgments: 0 } },
        {},
      ]),
    );
    assert.equal(String(table.schema.fields[0]!.type), 'Struct<{score:Float64, ci:List<Float64>, judgments:Int32}>');
    assert.deepEqual(JSON.parse(JSON.stringify(table.toArray())), [
      { scores_detection: { score: 0.75, ci: [0.5, 1], judgments: 20 } },
      { scores_detection: { score: null, ci: null, judgments: 0 } },
      { scores_detection: null },
    ]);
  });

  it('writes an empty table with the same columns', () => {
    const table = tableFromIPC(recordsToArrow(nested, []));
    assert.equal(table.numRows, 0);
    assert.deepEqual(
      table.schema.fields.map((f) => f.name),
      nested.map((c) => c.name),
    );
  });
});
