import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CompressionType, compressionRegistry } from 'apache-arrow';
import { decompressLz4Frame, registerArrowCodecs } from './arrow-codecs.js';
import { FIXTURES } from './testing/fixtures-path.js';
import { ZSTD_STORED } from './testing/parquet-writer.js';
import { longDocument } from './testing/sample-corpus.js';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytesOf = (s: string) => new TextEncoder().encode(s);

/** An LZ4 frame around the given blocks: version 01, independent blocks, 64 KiB maximum, no checksums. */
function frame(blocks: { data: Uint8Array; stored?: boolean }[], flags = 0x60): Uint8Array {
  const parts: number[] = [0x04, 0x22, 0x4d, 0x18, flags, 0x40, 0x00];
  for (const block of blocks) {
    const size = block.data.length | (block.stored ? 0x80000000 : 0);
    parts.push(size & 0xff, (size >>> 8) & 0xff, (size >>> 16) & 0xff, (size >>> 24) & 0xff, ...block.data);
  }
  parts.push(0, 0, 0, 0);
  return Uint8Array.from(parts);
}

describe('LZ4 frame decoder', () => {
  it('decodes what the lz4 tool writes with linked 64 KiB blocks and a content checksum', () => {
    const decoded = decompressLz4Frame(readFileSync(join(FIXTURES, 'linked-blocks.txt.lz4')));
    assert.equal(text(decoded), longDocument());
  });

  it('decodes literals, overlapping matches (runs) and stored blocks, across frames and skippable frames', () => {
    // token 0x50: 5 literals, then match offset 1 of 4 + 0 bytes -> "abcde" + "eeee"; then a literal-only sequence "!".
    const block = Uint8Array.of(0x50, ...bytesOf('abcde'), 0x01, 0x00, 0x10, ...bytesOf('!'));
    const first = frame([{ data: block }, { data: bytesOf('stored'), stored: true }]);
    const skippable = Uint8Array.of(0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9);
    const second = frame([{ data: Uint8Array.of(0x30, ...bytesOf('xyz')) }]);
    assert.equal(text(decompressLz4Frame(Uint8Array.from([...first, ...skippable, ...second]))), 'abcdeeeee!storedxyz');
  });

  it('decodes long literal and match lengths (the 15 + 255 + ... encoding)', () => {
    const literals = 'L'.repeat(15 + 255 + 3);
    // literal length 15 + 255 + 3; match offset 1, length 4 + 15 + 20.
    const block = Uint8Array.of(0xff, 255, 3, ...bytesOf(literals), 0x01, 0x00, 20, 0x10, ...bytesOf('.'));
    assert.equal(text(decompressLz4Frame(frame([{ data: block }]))), `${literals}${'L'.repeat(4 + 15 + 20)}.`);
  });

  it('rejects damaged data instead of reading out of range', () => {
    assert.throws(() => decompressLz4Frame(bytesOf('not lz4 at all')), /not an LZ4 frame/);
    assert.throws(
      () => decompressLz4Frame(frame([{ data: Uint8Array.of(0x10, 0x61, 0x09, 0x00) }])),
      /match offset 9 points before the data/,
    );
    const whole = readFileSync(join(FIXTURES, 'linked-blocks.txt.lz4'));
    assert.throws(() => decompressLz4Frame(whole.subarray(0, 5000)), /cut short/);
  });
});

describe('registerArrowCodecs', () => {
  it('registers decoders for LZ4 frames and ZSTD, keeping an encoder already there', () => {
    compressionRegistry.set(CompressionType.ZSTD, { encode: ZSTD_STORED.compress });
    registerArrowCodecs();
    registerArrowCodecs();
    assert.equal(compressionRegistry.get(CompressionType.LZ4_FRAME)?.decode, decompressLz4Frame);
    const zstd = compressionRegistry.get(CompressionType.ZSTD)!;
    const data = bytesOf('zstd round trip');
    assert.equal(
      text(zstd.decode!(zstd.encode!(data))),
      'zstd round trip',
      'the encoder is kept and the decoder reads it',
    );
  });
});
