import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isExpgenError } from '@expgen/contract';
import { SafetensorsStore, writeSafetensors, writeShardedSafetensors, roundToDtype } from './index.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'expgen-st-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A safetensors file assembled by hand from the format's definition, independent of the writer. */
function handMadeFile(header: object, data: Uint8Array, pad = true): Buffer {
  let json = JSON.stringify(header);
  if (pad) json += ' '.repeat((8 - (json.length % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([prefix, Buffer.from(json), data]);
}

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isExpgenError(error), `expected an ExpgenError, got ${String(error)}`);
    assert.match((error as Error).message, pattern);
    assert.doesNotMatch((error as Error).message, /\n/);
    return true;
  });
}

test('reads a hand-made file: F32, BF16 and F16 tensors with exact widening and absolute offsets', async () => {
  await withDir(async (dir) => {
    const f32 = new Float32Array([1.5, -2, 3.25]);
    const bf16 = new Uint16Array([0x3f80, 0xc020, 0x0001]); // 1, -2.5, smallest bf16 subnormal 2^-133
    const f16 = new Uint16Array([0x3c00, 0x7bff, 0x0001]); // 1, 65504, 2^-24
    const data = Buffer.concat([Buffer.from(f32.buffer), Buffer.from(bf16.buffer), Buffer.from(f16.buffer)]);
    const header = {
      __metadata__: { format: 'pt' },
      a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] },
      b: { dtype: 'BF16', shape: [1, 3], data_offsets: [12, 18] },
      c: { dtype: 'F16', shape: [3, 1], data_offsets: [18, 24] },
    };
    const file = join(dir, 'model.safetensors');
    const bytes = handMadeFile(header, data);
    await writeFile(file, bytes);
    const store = await SafetensorsStore.open(dir);
    try {
      assert.deepEqual(store.names(), ['a', 'b', 'c']);
      assert.deepEqual(store.metadata, { format: 'pt' });
      const headerEnd = bytes.length - data.length;
      assert.deepEqual(store.info('b'), {
        dtype: 'BF16',
        shape: [1, 3],
        file,
        byteOffset: headerEnd + 12,
        byteLength: 6,
      });
      assert.deepEqual([...(await store.readFloat32('a'))], [1.5, -2, 3.25]);
      assert.deepEqual([...(await store.readFloat32('b'))], [1, -2.5, 2 ** -133]);
      assert.deepEqual([...(await store.readFloat32('c'))], [1, 65504, 2 ** -24]);
      assert.deepEqual(await store.readRaw('c'), Buffer.from(f16.buffer));
      assert.equal(store.has('a'), true);
      assert.equal(store.has('z'), false);
      await rejectsWith(store.readFloat32('z'), /model\.safetensors: no tensor named "z"/);
    } finally {
      await store.close();
    }
    // An unpadded header is legal too, and a single file can be opened by path.
    await writeFile(file, handMadeFile({ a: header.a }, Buffer.from(f32.buffer), false));
    const single = await SafetensorsStore.open(file);
    assert.deepEqual([...(await single.readFloat32('a'))], [1.5, -2, 3.25]);
    await single.close();
  });
});

test('writer round-trips every dtype, rounds to nearest even, and pads the header to 8 bytes', async () => {
  await withDir(async (dir) => {
    const values = new Float32Array([0.1, -1 / 3, 1e-3, 12345.678, 0]);
    const file = join(dir, 'w.safetensors');
    await writeSafetensors(
      file,
      [
        { name: 'x32', dtype: 'F32', shape: [5], data: values },
        { name: 'xbf', dtype: 'BF16', shape: [5, 1], data: values },
        { name: 'x16', dtype: 'F16', shape: [1, 5], data: values },
        { name: 'empty', dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
      ],
      { note: 'test' },
    );
    const bytes = await readFile(file);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    assert.equal(headerLength % 8, 0);
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString());
    assert.deepEqual(header.xbf, { dtype: 'BF16', shape: [5, 1], data_offsets: [20, 30] });
    assert.deepEqual(header.__metadata__, { note: 'test' });
    const store = await SafetensorsStore.open(file);
    assert.deepEqual(await store.readFloat32('x32'), values);
    assert.deepEqual(await store.readFloat32('xbf'), roundToDtype(values, 'BF16'));
    assert.deepEqual(await store.readFloat32('x16'), roundToDtype(values, 'F16'));
    assert.equal((await store.readFloat32('empty')).length, 0);
    await store.close();
    await rejectsWith(
      writeSafetensors(file, [{ name: 'bad', dtype: 'F32', shape: [2, 2], data: new Float32Array(3) }]),
      /tensor "bad": shape \[2,2\] holds 4 values but 3 were given/,
    );
  });
});

test('sharded writer lays out model-0000i-of-0000N files and an index the reader follows', async () => {
  await withDir(async (dir) => {
    const tensors = Array.from({ length: 5 }, (_, i) => ({
      name: `t${i}`,
      shape: [i + 1, 4],
      data: new Float32Array((i + 1) * 4).map((_, j) => i + j / 8),
    }));
    const { files, indexFile } = await writeShardedSafetensors(dir, tensors, 3, 'BF16');
    assert.deepEqual((await readdir(dir)).sort(), [
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
      'model.safetensors.index.json',
    ]);
    assert.equal(files.length, 3);
    const index = JSON.parse(await readFile(indexFile, 'utf8'));
    assert.equal(index.metadata.total_size, (1 + 2 + 3 + 4 + 5) * 4 * 2);
    assert.deepEqual(Object.keys(index.weight_map), ['t0', 't1', 't2', 't3', 't4']);
    const store = await SafetensorsStore.open(dir);
    try {
      assert.deepEqual(store.names().sort(), ['t0', 't1', 't2', 't3', 't4']);
      for (const t of tensors) {
        assert.deepEqual(await store.readFloat32(t.name), roundToDtype(t.data, 'BF16'));
        assert.deepEqual(store.info(t.name).shape, t.shape);
        assert.equal(store.info(t.name).file, join(dir, index.weight_map[t.name]));
      }
      assert.deepEqual(store.metadata, { format: 'pt' });
    } finally {
      await store.close();
    }
    await rejectsWith(writeShardedSafetensors(dir, tensors, 6, 'F32'), /cannot cut 5 tensors into 6 shards/);
  });
});

test('validation errors name the file and tensor', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'model.safetensors');
    const four = Buffer.from(new Float32Array([1, 2, 3, 4]).buffer);
    await rejectsWith(
      SafetensorsStore.open(dir),
      /neither model\.safetensors nor model\.safetensors\.index\.json is there/,
    );
    await rejectsWith(SafetensorsStore.open(join(dir, 'nope')), /nope: no such file or folder/);

    await writeFile(file, Buffer.from([1, 2, 3]));
    await rejectsWith(SafetensorsStore.open(dir), /model\.safetensors: too short to be a safetensors file/);

    const huge = Buffer.alloc(16);
    huge.writeBigUInt64LE(1n << 40n);
    await writeFile(file, huge);
    await rejectsWith(SafetensorsStore.open(dir), /model\.safetensors: header length 1099511627776 exceeds the file/);

    const notJson = Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{{{{')]);
    await writeFile(file, notJson);
    await rejectsWith(SafetensorsStore.open(dir), /model\.safetensors: header is not valid JSON/);

    await writeFile(file, handMadeFile({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 32] } }, four));
    await rejectsWith(
      SafetensorsStore.open(dir),
      /model\.safetensors: tensor "w" spans 32 bytes but F32 \[4\] needs 16/,
    );

    await writeFile(file, handMadeFile({ w: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }, four));
    await rejectsWith(
      SafetensorsStore.open(dir),
      /model\.safetensors: tensor "w" ends at data byte 32 but the file holds only 16 data bytes/,
    );

    await writeFile(file, handMadeFile({ w: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, four));
    await rejectsWith(SafetensorsStore.open(dir), /tensor "w" has dtype "I64"; only BF16, F16 and F32/);

    await writeFile(file, handMadeFile({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, four));
    await rejectsWith(SafetensorsStore.open(dir), /tensor "w" has data_offsets \[8,0\]/);
    await unlink(file);

    // Index problems: a missing shard, a tensor the shard lacks, a malformed weight map.
    await writeShardedSafetensors(
      dir,
      [
        { name: 'a', shape: [2], data: new Float32Array(2) },
        { name: 'b', shape: [2], data: new Float32Array(2) },
      ],
      2,
      'F32',
    );
    const indexFile = join(dir, 'model.safetensors.index.json');
    const index = JSON.parse(await readFile(indexFile, 'utf8'));
    await writeFile(
      indexFile,
      JSON.stringify({ ...index, weight_map: { ...index.weight_map, c: 'model-00009-of-00009.safetensors' } }),
    );
    await rejectsWith(
      SafetensorsStore.open(dir),
      /model\.safetensors\.index\.json: tensor "c" is in shard "model-00009-of-00009\.safetensors", which is missing from/,
    );
    await writeFile(
      indexFile,
      JSON.stringify({ ...index, weight_map: { ...index.weight_map, c: 'model-00001-of-00002.safetensors' } }),
    );
    await rejectsWith(
      SafetensorsStore.open(dir),
      /tensor "c" is listed in shard "model-00001-of-00002\.safetensors" but that shard's header does not contain it/,
    );
    await writeFile(indexFile, JSON.stringify({ metadata: {} }));
    await rejectsWith(SafetensorsStore.open(dir), /key "weight_map" must be an object/);
    await writeFile(indexFile, JSON.stringify({ weight_map: { a: '../escape.safetensors' } }));
    await rejectsWith(
      SafetensorsStore.open(dir),
      /tensor "a" maps to "\.\.\/escape\.safetensors", which is not a shard file name/,
    );
  });
});

test('a truncated shard is reported when the tensor is read', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'model.safetensors');
    await writeSafetensors(file, [{ name: 'w', dtype: 'F32', shape: [4], data: new Float32Array(4) }]);
    const store = await SafetensorsStore.open(dir);
    // Cut the file after opening, as a concurrent download or a full disk would.
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, bytes.length - 4));
    await rejectsWith(store.readFloat32('w'), /model\.safetensors: file ended while reading tensor "w"/);
    await store.close();
    await rejectsWith(store.readRaw('w'), /store was closed before reading tensor "w"/);
  });
});

test('reads a 2-D tensor transposed, and any tensor in small chunks, for every dtype', async () => {
  await withDir(async (dir) => {
    const rows = 3;
    const cols = 4;
    const data = Float32Array.from({ length: rows * cols }, (_, i) => i - 5.5);
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const file = join(dir, `t-${dtype}.safetensors`);
      await writeSafetensors(file, [{ name: 't', dtype, shape: [rows, cols], data }]);
      const store = await SafetensorsStore.open(file);
      try {
        // 10 bytes per chunk holds one source row of 16-bit values (8 bytes) at a time; 1 MiB holds everything.
        for (const chunkBytes of [10, 1 << 20]) {
          const transposed = await store.readFloat32('t', { transpose: true, chunkBytes });
          for (let r = 0; r < rows; r++)
            for (let c = 0; c < cols; c++) assert.equal(transposed[c * rows + r], data[r * cols + c], dtype);
        }
        assert.deepEqual(await store.readFloat32('t', { chunkBytes: 6 }), data, `${dtype}: plain reads in chunks`);
      } finally {
        await store.close();
      }
    }
    const vector = join(dir, 'v.safetensors');
    await writeSafetensors(vector, [{ name: 'v', dtype: 'F32', shape: [4], data: new Float32Array(4) }]);
    const store = await SafetensorsStore.open(vector);
    await rejectsWith(store.readFloat32('v', { transpose: true }), /tensor "v" has shape \[4\], not 2-D/);
    await store.close();
  });
});
