import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { concatChunks, decodeState, encodeState } from './state-codec.js';

describe('state codec', () => {
  const sections = {
    a: Float32Array.of(1.5, -2, Number.NaN),
    b: new Uint8Array([1, 2, 3, 4, 5]),
    empty: new Int32Array(0),
    c: BigUint64Array.of(2n ** 64n - 1n, 3n),
    d: new Float64Array([Math.PI]).subarray(0, 1),
  };

  it('round-trips sections and parameters, from one buffer or from the chunks', () => {
    const chunks = encodeState('demo', { n: 3, name: 'x' }, sections);
    for (const input of [concatChunks(chunks), chunks]) {
      const state = decodeState(input, 'demo');
      assert.deepEqual(state.params, { n: 3, name: 'x' });
      assert.deepEqual(state.take('a', 'f32', 3), sections.a);
      assert.deepEqual(state.take('b', 'u8', 5), sections.b);
      assert.deepEqual(state.take('empty', 'i32', 0), sections.empty);
      assert.deepEqual(state.take('c', 'u64', 2), sections.c);
      assert.deepEqual(state.take('d', 'f64', 1), sections.d);
    }
    assert.equal(concatChunks(chunks).length % 8, 0);
  });

  it('reads chunks split at arbitrary places', () => {
    const whole = concatChunks(encodeState('demo', {}, sections));
    const pieces = [whole.subarray(0, 5), whole.subarray(5, 5), whole.subarray(5, 31), whole.subarray(31)];
    assert.deepEqual(decodeState(pieces, 'demo').take('c', 'u64', 2), sections.c);
  });

  it('names what is wrong with a checkpoint it cannot use', () => {
    const whole = concatChunks(encodeState('demo', {}, sections));
    assert.throws(() => decodeState(whole, 'other'), /\(other\) is unusable: it holds a "demo" state/);
    assert.throws(() => decodeState(whole.subarray(0, whole.length - 8), 'demo'), /bytes where the header describes/);
    assert.throws(() => decodeState(whole, 'demo').take('a', 'f32', 4), /section "a" is f32\[3\], expected f32\[4\]/);
    assert.throws(() => decodeState(whole, 'demo').take('zzz', 'f32', 4), /section "zzz" is missing/);
  });
});
