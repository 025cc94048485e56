import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tableFromIPC } from 'apache-arrow';
import { recordsToArrow, type RecordColumn } from './records-arrow.js';

const columns: RecordColumn[] = [
  { name: 'feature', type: 'utf8' },
  { name: 'score', type: 'float64' },
  { name: 'ci', type: 'float64-list' },
  { name: 'ok', type: 'bool' },
  { name: 'n', type: 'int32' },
  { name: 'describer', type: 'json' },
];

describe('recordsToArrow', () => {
  it('writes typed, nullable columns that read back as written, deterministically', () => {
    const rows = [
      { feature: 'mlp/0/1', score: 0.5, ci: [0.25, 0.75], ok: true, n: 3, describer: { component: 'baseline' } },
      { feature: 'mlp/0/2', score: null, ci: null, ok: false, n: null, describer: null },
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
    assert.equal(table.getChild('describer')!.get(0), '{"component":"baseline"}');
  });
  it('writes struct columns as typed Arrow structs, fields nullable, a missing struct as null', () => {
    const struct: RecordColumn[] = [
      {
        name: 'scores_detection',
        type: 'struct',
        fields: [
          { name: 'score', type: 'float64' },
          { name: 'ci', type: 'float64-list' },
          { name: 'judgments', type: 'int32' },
        ],
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
    const table = tableFromIPC(recordsToArrow(columns, []));
    assert.equal(table.numRows, 0);
    assert.deepEqual(
      table.schema.fields.map((f) => f.name),
      columns.map((c) => c.name),
    );
  });
});
