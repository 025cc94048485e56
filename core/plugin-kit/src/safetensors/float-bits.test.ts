import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float16BitsToNumber,
  float32BitsToBfloat16Bits,
  float32BitsToFloat16Bits,
  float32Bits,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  roundToDtype,
} from './float-bits.js';
import { Sfc32 } from '../seeded-random.js';

test('float16 -> float32 -> float16 is the identity on all 65,536 bit patterns', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const back = float32ToFloat16Bits(float16BitsToFloat32(all));
  for (let h = 0; h < 65536; h++) {
    const isNaN16 = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (isNaN16) assert.ok(Number.isNaN(float16BitsToNumber(back[h]!)), `NaN ${h.toString(16)}`);
    else assert.equal(back[h], h, `pattern 0x${h.toString(16)}`);
  }
});

test('float16 decoding matches the IEEE definition at landmarks', () => {
  assert.equal(float16BitsToNumber(0x3c00), 1);
  assert.equal(float16BitsToNumber(0xc000), -2);
  assert.equal(float16BitsToNumber(0x7bff), 65504);
  assert.equal(float16BitsToNumber(0x0001), 2 ** -24);
  assert.equal(float16BitsToNumber(0x0400), 2 ** -14);
  assert.equal(float16BitsToNumber(0x7c00), Infinity);
  assert.ok(Object.is(float16BitsToNumber(0x8000), -0));
});

/** Nearest float16 by brute force over the sorted finite values, ties to the even pattern. */
function referenceFloat16(x: number, sortedPositive: Float64Array): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00; // 65504 + half an ulp (16) rounds to infinity
  let lo = 0;
  let hi = 0x7bff;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (sortedPositive[mid]! <= a) lo = mid;
    else hi = mid - 1;
  }
  if (sortedPositive[lo] === a || lo === 0x7bff) return sign | lo;
  const down = a - sortedPositive[lo]!;
  const up = sortedPositive[lo + 1]! - a;
  if (down < up) return sign | lo;
  if (up < down) return sign | (lo + 1);
  return sign | (lo % 2 === 0 ? lo : lo + 1);
}

test('float32 -> float16 rounds to nearest even, including subnormals, ties and overflow', () => {
  const positive = new Float64Array(0x7c00);
  for (let h = 0; h < 0x7c00; h++) positive[h] = float16BitsToNumber(h);
  const cases: number[] = [
    0,
    -0,
    1,
    65504,
    65519.99,
    65520,
    1e6,
    -1e6,
    2 ** -25,
    2 ** -25 * 1.0001,
    2 ** -24 * 1.5,
    2 ** -24 * 2.5,
    1 + 2 ** -11,
    1 + 3 * 2 ** -11,
    2 ** -14 * (1 - 2 ** -12),
  ];
  // Exact midpoints between neighbouring halves (representable in float32) are the tie cases.
  for (let h = 0; h < 0x7bff; h += 97)
    cases.push((positive[h]! + positive[h + 1]!) / 2, -(positive[h]! + positive[h + 1]!) / 2);
  const random = new Sfc32(7);
  for (let i = 0; i < 20000; i++)
    cases.push(Math.fround((random.nextFloat() - 0.5) * 2 ** (random.nextFloat() * 44 - 28)));
  for (const x of cases) {
    const value = Math.fround(x);
    assert.equal(float32BitsToFloat16Bits(float32Bits(value)), referenceFloat16(value, positive), `value ${value}`);
  }
  assert.equal(float32BitsToFloat16Bits(float32Bits(NaN)) & 0x7e00, 0x7e00);
  assert.equal(float32BitsToFloat16Bits(float32Bits(-Infinity)), 0xfc00);
});

test('bfloat16 is the top half of float32, with round-to-nearest-even narrowing', () => {
  const exact = new Float32Array([1, -2.5, 3.140625, 2 ** -130]);
  assert.deepEqual([...bfloat16BitsToFloat32(float32ToBfloat16Bits(exact))], [...exact]);
  // 1 + 2^-8 is exactly between bf16 neighbours 1 and 1 + 2^-7: ties go to the even mantissa (1).
  assert.equal(float32BitsToBfloat16Bits(float32Bits(1 + 2 ** -8)), 0x3f80);
  // 1 + 3 * 2^-8 lies between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up to even.
  assert.equal(float32BitsToBfloat16Bits(float32Bits(1 + 3 * 2 ** -8)), 0x3f82);
  // Just above the tie rounds up.
  assert.equal(float32BitsToBfloat16Bits(float32Bits(1 + 2 ** -8 + 2 ** -20)), 0x3f81);
  // The largest float32 rounds to infinity; NaN stays NaN with its sign.
  assert.equal(float32BitsToBfloat16Bits(float32Bits(3.4028234663852886e38)), 0x7f80);
  assert.equal(float32BitsToBfloat16Bits(0xffc00001), 0xffc0);
  for (let bits16 = 0; bits16 < 65536; bits16 += 1) {
    if ((bits16 & 0x7f80) === 0x7f80 && (bits16 & 0x7f) !== 0) continue;
    assert.equal(float32BitsToBfloat16Bits((bits16 << 16) >>> 0), bits16);
  }
});

test('roundToDtype gives what a model stored in that dtype computes with', () => {
  const values = new Float32Array([0.1, 1 / 3, -7.77]);
  assert.deepEqual([...roundToDtype(values, 'F32')], [...values]);
  assert.deepEqual([...roundToDtype(values, 'BF16')], [0.10009765625, 0.333984375, -7.78125]);
  assert.deepEqual([...roundToDtype(values, 'F16')], [0.0999755859375, 0.333251953125, -7.76953125]);
});
