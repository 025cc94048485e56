// Bit-exact conversions between float32 and the two 16-bit float formats checkpoints and ONNX graphs use.
// Widening (16 -> 32 bits) is exact; narrowing rounds to nearest, ties to even, as PyTorch's `.to(bfloat16)` /
// `.half()` and numpy's `astype(float16)` do, so weights written here match what those libraries would write.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Raw IEEE-754 bits of `value` rounded to float32. */
export function float32Bits(value: number): number {
  f32[0] = value;
  return u32[0]!;
}

/** bfloat16 bits to float32: bfloat16 is the top half of a float32, so widening is a shift. */
export function bfloat16BitsToFloat32(
  bits: Uint16Array,
  out: Float32Array = new Float32Array(bits.length),
): Float32Array {
  const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i]! << 16;
  return out;
}

/** One float32 bit pattern to bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN of the same sign. */
export function float32BitsToBfloat16Bits(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) & 0x8000) | 0x7fc0;
  // Adding 0x7fff plus the lowest kept bit rounds ties to even; a carry into the exponent is the right answer
  // (including overflow to infinity).
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function float32ToBfloat16Bits(
  values: Float32Array,
  out: Uint16Array = new Uint16Array(values.length),
): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32BitsToBfloat16Bits(bits[i]!);
  return out;
}

let halfTable: Float32Array | null = null;

/** All 65,536 float16 values, so widening is one lookup per element. */
function float16Table(): Float32Array {
  if (halfTable !== null) return halfTable;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    let value: number;
    if (exponent === 0) value = mantissa * 2 ** -24;
    else if (exponent === 0x1f) value = mantissa === 0 ? Infinity : NaN;
    else value = (1 + mantissa / 1024) * 2 ** (exponent - 15);
    table[h] = sign * value;
  }
  halfTable = table;
  return table;
}

/** One float16 bit pattern to its exact value. */
export function float16BitsToNumber(bits: number): number {
  return float16Table()[bits & 0xffff]!;
}

export function float16BitsToFloat32(
  bits: Uint16Array,
  out: Float32Array = new Float32Array(bits.length),
): Float32Array {
  const table = float16Table();
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return out;
}

/** One float32 bit pattern to float16 bits, round to nearest even; out-of-range values become infinity. */
export function float32BitsToFloat16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 | (mantissa >>> 13) : 0);
  if (exponent >= 143) return sign | 0x7c00; // |x| >= 2^16: beyond the largest finite half even after rounding
  if (exponent >= 113) {
    // Normal half. A rounding carry out of the mantissa bumps the exponent, up to infinity: both are correct.
    let h = ((exponent - 112) << 10) | (mantissa >>> 13);
    const rest = mantissa & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) !== 0)) h++;
    return sign | h;
  }
  if (exponent < 102) return sign; // below half the smallest subnormal (2^-25): rounds to zero
  // Subnormal half: the value in units of 2^-24 is the full 24-bit significand shifted right.
  const significand = mantissa | 0x800000;
  const shift = 126 - exponent;
  let h = significand >>> shift;
  const rest = significand & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (h & 1) !== 0)) h++;
  return sign | h;
}

export function float32ToFloat16Bits(
  values: Float32Array,
  out: Uint16Array = new Uint16Array(values.length),
): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32BitsToFloat16Bits(bits[i]!);
  return out;
}

/** Values as stored after a round trip through `dtype`: what a model built in that dtype actually computes with. */
export function roundToDtype(values: Float32Array, dtype: 'BF16' | 'F16' | 'F32'): Float32Array {
  if (dtype === 'F32') return Float32Array.from(values);
  if (dtype === 'BF16') return bfloat16BitsToFloat32(float32ToBfloat16Bits(values));
  return float16BitsToFloat32(float32ToFloat16Bits(values));
}
