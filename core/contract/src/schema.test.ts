import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closest, describeValue, formatKeyPath, s, SchemaError, type KeyPath } from './schema.js';

/** Asserts that `run` throws a SchemaError at `path` whose message is exactly `message`. */
function throwsAt(run: () => unknown, path: KeyPath, message: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof SchemaError, `a SchemaError, got ${String(error)}`);
    assert.deepEqual(error.path, path);
    assert.equal(error.message, message);
    assert.ok(!error.message.includes('\n'), 'one line');
    return true;
  });
}

describe('formatKeyPath / describeValue', () => {
  it('formats key paths with dots and [index]', () => {
    assert.equal(formatKeyPath([]), '');
    assert.equal(formatKeyPath(['a']), 'a');
    assert.equal(formatKeyPath(['a', 'b', 2, 'c']), 'a.b[2].c');
    assert.equal(formatKeyPath(['datasets', 0, 'ratio']), 'datasets[0].ratio');
    assert.equal(formatKeyPath(['a', 0, 1]), 'a[0][1]');
    assert.equal(formatKeyPath([3, 'x']), '[3].x');
  });

  it('describes found values briefly', () => {
    assert.equal(describeValue(undefined), 'nothing');
    assert.equal(describeValue(null), 'null');
    assert.equal(describeValue('ten'), '"ten"');
    assert.equal(describeValue('a\nb'), '"a\\nb"', 'strings are quoted and escaped, so a message stays on one line');
    assert.equal(describeValue('x'.repeat(100)), JSON.stringify(`${'x'.repeat(57)}...`));
    assert.equal(describeValue([1]), 'a list');
    assert.equal(describeValue({ a: 1 }), 'a mapping');
    assert.equal(describeValue(3), 'number 3');
    assert.equal(describeValue(true), 'boolean true');
  });

  it('says "(top level)" for an empty path', () => {
    throwsAt(() => s.string().parse(1), [], '(top level): expected a string, found number 1');
  });
});

describe('s.string', () => {
  it('accepts strings', () => {
    assert.equal(s.string().parse('', ['k']), '');
    assert.equal(s.string().parse('abc'), 'abc');
  });
  it('rejects other types', () => {
    throwsAt(() => s.string().parse(3, ['k']), ['k'], 'k: expected a string, found number 3');
    throwsAt(() => s.string().parse(undefined, ['k']), ['k'], 'k: expected a string, found nothing');
    throwsAt(() => s.string().parse(null, ['k']), ['k'], 'k: expected a string, found null');
  });
  it('nonEmpty rejects ""', () => {
    throwsAt(() => s.string({ nonEmpty: true }).parse('', ['k']), ['k'], 'k: expected a non-empty string, found ""');
  });
  it('pattern uses patternText in the message', () => {
    const name = s.string({ pattern: /^[a-z]+$/, patternText: 'a lowercase word' });
    assert.equal(name.parse('abc'), 'abc');
    throwsAt(() => name.parse('ab1', ['n']), ['n'], 'n: expected a lowercase word, found "ab1"');
  });
});

describe('s.number / s.integer', () => {
  it('accepts finite numbers in bounds', () => {
    assert.equal(s.number().parse(-1.5), -1.5);
    assert.equal(s.number({ min: 0, max: 1 }).parse(0), 0);
    assert.equal(s.number({ min: 0, max: 1 }).parse(1), 1);
    assert.equal(s.integer({ min: 1 }).parse(5), 5);
  });
  it('rejects NaN, infinities and numeric strings', () => {
    for (const bad of [Number.NaN, Infinity, -Infinity, '3']) assert.throws(() => s.number().parse(bad), SchemaError);
    throwsAt(() => s.number().parse('3', ['x']), ['x'], 'x: expected a number, found "3"');
  });
  it('describes bounds', () => {
    assert.equal(s.number({ min: 0, max: 1 }).expected, 'a number >= 0 and <= 1');
    assert.equal(s.number({ exclusiveMin: 0 }).expected, 'a number > 0');
    assert.equal(s.integer({ min: 1 }).expected, 'an integer >= 1');
    assert.equal(s.integer().expected, 'an integer');
  });
  it('enforces min, max and exclusiveMin', () => {
    throwsAt(() => s.number({ min: 0 }).parse(-0.1, ['a']), ['a'], 'a: expected a number >= 0, found number -0.1');
    throwsAt(() => s.number({ max: 0.5 }).parse(0.6, ['a']), ['a'], 'a: expected a number <= 0.5, found number 0.6');
    throwsAt(() => s.number({ exclusiveMin: 0 }).parse(0, ['a']), ['a'], 'a: expected a number > 0, found number 0');
  });
  it('integers must be safe integers', () => {
    throwsAt(() => s.integer({ min: 1 }).parse(1.5, ['k']), ['k'], 'k: expected an integer >= 1, found number 1.5');
    assert.throws(() => s.integer().parse(2 ** 53), SchemaError);
    throwsAt(
      () => s.integer({ min: 1 }).parse('ten', ['exemplars', 'k']),
      ['exemplars', 'k'],
      'exemplars.k: expected an integer >= 1, found "ten"',
    );
  });
});

describe('s.boolean / s.enum', () => {
  it('boolean accepts only true and false', () => {
    assert.equal(s.boolean().parse(true), true);
    assert.equal(s.boolean().parse(false), false);
    throwsAt(() => s.boolean().parse('true', ['b']), ['b'], 'b: expected true or false, found "true"');
    throwsAt(() => s.boolean().parse(0, ['b']), ['b'], 'b: expected true or false, found number 0');
  });
  it('enum accepts listed values only', () => {
    const provider = s.enum(['cpu', 'cuda', 'webgpu']);
    assert.equal(provider.parse('cuda'), 'cuda');
    throwsAt(() => provider.parse('gpu', ['p']), ['p'], 'p: expected one of "cpu", "cuda", "webgpu", found "gpu"');
    throwsAt(() => provider.parse(1, ['p']), ['p'], 'p: expected one of "cpu", "cuda", "webgpu", found number 1');
  });
});

describe('s.array', () => {
  it('parses every item with its index in the path', () => {
    assert.deepEqual(s.array(s.integer()).parse([1, 2, 3]), [1, 2, 3]);
    throwsAt(() => s.array(s.integer()).parse([1, 2, 'x'], ['a']), ['a', 2], 'a[2]: expected an integer, found "x"');
  });
  it('rejects non-lists and short lists', () => {
    throwsAt(() => s.array(s.string()).parse('a', ['l']), ['l'], 'l: expected a list of strings, found "a"');
    throwsAt(
      () => s.array(s.string(), { minItems: 1 }).parse([], ['l']),
      ['l'],
      'l: expected a list of at least 1 of strings, found a list',
    );
  });
  it('reads well whatever the item is', () => {
    assert.equal(s.array(s.string()).expected, 'a list of strings');
    assert.equal(s.array(s.string({ nonEmpty: true })).expected, 'a list of non-empty strings');
    assert.equal(s.array(s.object({})).expected, 'a list of mappings');
    assert.equal(
      s.array(s.number({ exclusiveMin: 0, max: 0.5 }), { minItems: 1 }).expected,
      'a list of at least 1 of numbers > 0 and <= 0.5',
    );
    assert.equal(s.array(s.integer({ min: 1 })).expected, 'a list of integers >= 1');
    assert.equal(s.array(s.string().nullable()).expected, 'a list of strings or null');
    assert.equal(s.array(s.array(s.string())).expected, 'a list of lists of strings');
    assert.equal(s.array(s.enum(['a', 'b'])).expected, 'a list of values, each one of "a", "b"');
    assert.equal(s.array(s.boolean()).expected, 'a list of values, each true or false');
  });
  it('treats holes in a sparse list as missing items rather than skipping them', () => {
    const sparse: unknown[] = [];
    sparse[2] = 'c';
    throwsAt(() => s.array(s.string()).parse(sparse, ['l']), ['l', 0], 'l[0]: expected a string, found nothing');
    assert.deepEqual(s.array(s.string().optional()).parse(sparse), [undefined, undefined, 'c']);
  });
});

describe('s.object', () => {
  const shape = () =>
    s.object({
      name: s.string(),
      size: s.integer({ min: 1 }).default(3),
      nested: s.object({ flag: s.boolean().default(false) }),
      maybe: s.string().optional(),
    });

  it('fills defaults, including nested objects given as nothing', () => {
    assert.deepEqual(shape().parse({ name: 'x' }), { name: 'x', size: 3, nested: { flag: false } });
    assert.deepEqual(s.object({ a: s.integer().default(1) }).parse(undefined), { a: 1 });
  });

  it('omits optional keys that are absent', () => {
    const parsed = shape().parse({ name: 'x' });
    assert.ok(!('maybe' in parsed));
    assert.equal(shape().parse({ name: 'x', maybe: 'y' }).maybe, 'y');
  });

  it('rejects non-mappings', () => {
    throwsAt(() => shape().parse([], ['o']), ['o'], 'o: expected a mapping, found a list');
    throwsAt(() => shape().parse(null, ['o']), ['o'], 'o: expected a mapping, found null');
    throwsAt(() => shape().parse('x', ['o']), ['o'], 'o: expected a mapping, found "x"');
  });

  it('reports nested paths such as a.b[2].c', () => {
    const schema = s.object({ a: s.object({ b: s.array(s.object({ c: s.integer({ min: 0 }) })) }) });
    assert.deepEqual(schema.parse({ a: { b: [{ c: 0 }, { c: 1 }, { c: 2 }] } }), {
      a: { b: [{ c: 0 }, { c: 1 }, { c: 2 }] },
    });
    throwsAt(
      () => schema.parse({ a: { b: [{ c: 0 }, { c: 1 }, { c: -2 }] } }),
      ['a', 'b', 2, 'c'],
      'a.b[2].c: expected an integer >= 0, found number -2',
    );
    throwsAt(
      () => schema.parse({ a: { b: [{ c: 0 }, { c: 1 }, { d: 2 }] } }),
      ['a', 'b', 2, 'd'],
      'a.b[2].d: unknown key (did you mean "c"?); the keys here are c',
    );
  });

  it('rejects an unknown key, suggesting the nearest', () => {
    const schema = s.object({
      topK: s.integer().default(1),
      sequences: s.integer().default(1),
      seqLen: s.integer().default(1),
    });
    throwsAt(
      () => schema.parse({ topk: 5 }, ['exemplars']),
      ['exemplars', 'topk'],
      'exemplars.topk: unknown key (did you mean "topK"?); the keys here are topK, sequences, seqLen',
    );
    throwsAt(
      () => schema.parse({ sequnces: 5 }, ['exemplars']),
      ['exemplars', 'sequnces'],
      'exemplars.sequnces: unknown key (did you mean "sequences"?); the keys here are topK, sequences, seqLen',
    );
    throwsAt(
      () => schema.parse({ completelyDifferent: 5 }, ['exemplars']),
      ['exemplars', 'completelyDifferent'],
      'exemplars.completelyDifferent: unknown key; the keys here are topK, sequences, seqLen',
    );
  });

  it('says "none" when a mapping takes no keys', () => {
    throwsAt(() => s.object({}).parse({ x: 1 }), ['x'], 'x: unknown key; the keys here are none');
  });

  it('rejects keys that only exist on Object.prototype', () => {
    for (const key of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      const input = JSON.parse(`{"name": "x", ${JSON.stringify(key)}: 1}`) as unknown;
      assert.throws(
        () => shape().parse(input),
        (e: unknown) => e instanceof SchemaError && e.path.at(-1) === key && /unknown key/.test(e.message),
        key,
      );
    }
  });

  it('checks unknown keys before values, so a typo is reported as a typo', () => {
    throwsAt(
      () => shape().parse({ nmae: 'x' }),
      ['nmae'],
      'nmae: unknown key (did you mean "name"?); the keys here are name, size, nested, maybe',
    );
  });
});

describe('s.record / s.unknown / s.custom', () => {
  it('record validates every value with the key in the path', () => {
    const schema = s.record(s.number());
    assert.deepEqual(schema.parse({ a: 1, b: 2 }), { a: 1, b: 2 });
    assert.deepEqual(schema.parse(undefined), {});
    throwsAt(() => schema.parse({ a: 1, b: 'x' }, ['r']), ['r', 'b'], 'r.b: expected a number, found "x"');
    throwsAt(() => schema.parse([1], ['r']), ['r'], 'r: expected a mapping, found a list');
  });

  it('unknown passes any value through untouched', () => {
    const value = { deep: [1, { x: null }] };
    assert.equal(s.unknown().parse(value), value);
    assert.equal(s.unknown().parse(undefined), undefined);
  });

  it('custom runs its check with the path', () => {
    const even = s.custom('an even integer', (value, path) => {
      if (typeof value !== 'number' || value % 2 !== 0) throw new SchemaError(path, 'an even integer', value);
      return value;
    });
    assert.equal(even.parse(4), 4);
    assert.equal(even.expected, 'an even integer');
    throwsAt(() => s.object({ n: even }).parse({ n: 3 }), ['n'], 'n: expected an even integer, found number 3');
  });
});

describe('optional / nullable / default / describe', () => {
  it('optional accepts nothing and keeps the inner check', () => {
    const schema = s.integer().optional();
    assert.equal(schema.parse(undefined), undefined);
    assert.equal(schema.parse(2), 2);
    throwsAt(() => schema.parse(null, ['o']), ['o'], 'o: expected an integer, found null');
    assert.equal(schema.expected, 'an integer');
  });

  it('nullable accepts null and says so', () => {
    const schema = s.string({ nonEmpty: true }).nullable();
    assert.equal(schema.parse(null), null);
    assert.equal(schema.expected, 'a non-empty string or null');
    throwsAt(() => schema.parse(undefined, ['n']), ['n'], 'n: expected a non-empty string, found nothing');
  });

  it('default fills nothing but not null, and never shares the default value', () => {
    const schema = s.array(s.number()).default([1, 2]);
    const first = schema.parse(undefined);
    assert.deepEqual(first, [1, 2]);
    first.push(3);
    assert.deepEqual(schema.parse(undefined), [1, 2], 'the default is cloned');
    throwsAt(() => schema.parse(null, ['d']), ['d'], 'd: expected a list of numbers, found null');
    assert.deepEqual(s.string().nullable().default(null).parse(undefined), null);
  });

  it('describe sets the description and returns the same schema', () => {
    const schema = s.string();
    assert.equal(schema.describe('A name.'), schema);
    assert.equal(schema.description, 'A name.');
  });
});

describe('closest', () => {
  it('finds likely typos, case-insensitively', () => {
    assert.equal(closest('topk', ['topK', 'seqLen']), 'topK');
    assert.equal(closest('sequnces', ['sequences', 'seqLen']), 'sequences');
    assert.equal(closest('corelation', ['correlation', 'baseline']), 'correlation');
    assert.equal(closest('MLP', ['mlp', 'resid']), 'mlp');
  });

  it('returns nothing when no candidate is near', () => {
    assert.equal(closest('transformer', ['mlp', 'resid']), undefined);
    assert.equal(closest('anything', []), undefined);
  });

  it('allows more edits for longer words', () => {
    // length 12: up to 4 edits; length 6: up to 2.
    assert.equal(closest('promptTmplte', ['promptTemplate']), 'promptTemplate');
    assert.equal(closest('bsline', ['baseline']), 'baseline');
    assert.equal(closest('bslie', ['baseline']), undefined);
  });

  it('prefers the nearest, and the first of equally near ones', () => {
    assert.equal(closest('mlp', ['mlq', 'mlp2', 'mlp']), 'mlp');
    assert.equal(closest('abc', ['abd', 'abe']), 'abd');
  });
});
