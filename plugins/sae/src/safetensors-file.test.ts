import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { roundTo, SafetensorsFile, writeSafetensors } from './safetensors-file.js';
import { SeededRandom } from './tiny-sae.js';

const dir = await mkdtemp(join(tmpdir(), 'expgen-sae-safetensors-'));
after(() => rm(dir, { recursive: true, force: true }));

const rejectsWith = (promise: Promise<unknown>, pattern: RegExp) =>
  assert.rejects(promise, (error: unknown) => {
    assert.ok(isExpgenError(error), `not an ExpgenError: ${String(error)}`);
    assert.match((error as Error).message, pattern);
    return true;
  });

describe('safetensors reading', () => {
  const random = new SeededRandom(1);
  const matrix = random.normals(5 * 7, 3);
  const vector = Float32Array.of(0, -0, 1.5, -2.25, 65504, 1e-6, Math.fround(Math.PI));

  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    it(`reads ${dtype} tensors back as float32, as stored`, async () => {
      const path = join(dir, `values-${dtype}.safetensors`);
      await writeSafetensors(path, { m: { shape: [5, 7], data: matrix }, v: { shape: [7], data: vector } }, { dtype });
      const file = await SafetensorsFile.open(path);
      try {
        assert.deepEqual(file.entries.get('m')!.shape, [5, 7]);
        assert.equal(file.entries.get('m')!.dtype, dtype);
        assert.deepEqual(await file.readFloat32('m'), roundTo(dtype, matrix));
        assert.deepEqual(await file.readFloat32('v'), roundTo(dtype, vector));
      } finally {
        await file.close();
      }
    });
  }

  it('rounds to the nearest representable value', () => {
    assert.deepEqual(
      [...roundTo('BF16', Float32Array.of(1 + 2 ** -8, 1 + 3 * 2 ** -9, Math.fround(Math.PI)))],
      [1, 1 + 2 ** -7, 3.140625],
    );
    assert.deepEqual(
      [...roundTo('F16', Float32Array.of(1 + 2 ** -11, 1 + 3 * 2 ** -12, 70000, 2 ** -24))],
      [1, 1 + 2 ** -10, Infinity, 2 ** -24],
    );
  });

  it('transposes a 2-D tensor while reading it, across read chunks', async () => {
    const rows = 3;
    const cols = 4;
    const data = Float32Array.from({ length: rows * cols }, (_, i) => i);
    const path = join(dir, 'transpose.safetensors');
    await writeSafetensors(path, { t: { shape: [rows, cols], data } }, { dtype: 'BF16' });
    const file = await SafetensorsFile.open(path);
    try {
      // 10 bytes per chunk: one 8-byte row at a time, then everything at once.
      for (const chunkBytes of [10, 1 << 20]) {
        const transposed = await file.readFloat32('t', { transpose: true, chunkBytes });
        for (let r = 0; r < rows; r++)
          for (let c = 0; c < cols; c++) assert.equal(transposed[c * rows + r], data[r * cols + c]);
      }
      assert.deepEqual(await file.readFloat32('t', { chunkBytes: 6 }), data, 'plain reads across 3-value chunks');
    } finally {
      await file.close();
    }
  });

  it('refuses missing tensors, other dtypes, truncated files and non-safetensors files by name', async () => {
    const path = join(dir, 'short.safetensors');
    await writeSafetensors(path, { a: { shape: [64], data: new Float32Array(64) } });
    const file = await SafetensorsFile.open(path);
    await rejectsWith(file.readFloat32('b'), /short\.safetensors: tensor "b" is missing/);
    await file.close();
    await truncate(path, 100);
    await rejectsWith(SafetensorsFile.open(path), /tensor "a" lies outside the file/);
    const notSafetensors = join(dir, 'text.safetensors');
    await writeFile(notSafetensors, 'hello, this is not a safetensors file at all');
    await rejectsWith(SafetensorsFile.open(notSafetensors), /text\.safetensors is not a safetensors file/);
    const header = Buffer.from(JSON.stringify({ i: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }));
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(header.length));
    const ints = join(dir, 'ints.safetensors');
    await writeFile(ints, Buffer.concat([prefix, header, Buffer.alloc(8)]));
    const intFile = await SafetensorsFile.open(ints);
    await rejectsWith(intFile.readFloat32('i'), /tensor "i" is I64; SAE weights are read from F32, F16 or BF16/);
    await intFile.close();
    await rejectsWith(
      SafetensorsFile.open(join(dir, 'absent.safetensors')),
      /cannot open .*absent\.safetensors \(ENOENT\)/,
    );
  });
});
