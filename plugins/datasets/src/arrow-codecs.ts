import { CompressionType, compressionRegistry } from 'apache-arrow';
import { decompressZstd } from 'hyparquet-compressors';

/**
 * Arrow IPC bodies may be compressed per buffer with LZ4 (frame format) or ZSTD, and pyarrow's
 * `feather.write_feather` compresses with LZ4 by default, so a Feather v2 reader without codecs fails on most
 * files met in practice. apache-arrow only decodes codecs registered with it, and ships none: ZSTD comes from
 * hyparquet-compressors (already here for parquet), LZ4 frames from the small decoder below.
 *
 * Registration keeps an encoder someone else registered, and is idempotent.
 */
export function registerArrowCodecs(): void {
  for (const [type, decode] of [
    [CompressionType.LZ4_FRAME, decompressLz4Frame],
    [CompressionType.ZSTD, (data: Uint8Array) => decompressZstd(data)],
  ] as const) {
    const existing = compressionRegistry.get(type);
    if (existing?.decode) continue;
    compressionRegistry.set(type, { ...(existing?.encode ? { encode: existing.encode.bind(existing) } : {}), decode });
  }
}

const LZ4_FRAME_MAGIC = 0x184d2204;
/** Skippable frames (magic 0x184D2A50-5F) carry user data and hold no content. */
const isSkippableMagic = (magic: number) => (magic & 0xfffffff0) === 0x184d2a50;
/** Block maximum sizes by the BD byte's 3-bit code (4: 64 KiB ... 7: 4 MiB). */
const BLOCK_MAX_SIZE: Readonly<Record<number, number>> = { 4: 1 << 16, 5: 1 << 18, 6: 1 << 20, 7: 1 << 22 };

/**
 * Decodes LZ4 frames (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md), one or several back to back.
 * Blocks are decoded into one growing output, so linked blocks (matches reaching into earlier blocks, the lz4
 * library's default) decode like independent ones. Checksums are skipped, not verified: every read is
 * bounds-checked, so damaged data fails with an error instead of reading out of range.
 */
export function decompressLz4Frame(input: Uint8Array): Uint8Array {
  const out = new GrowableBytes(input.length * 4);
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  let i = 0;
  const need = (n: number) => {
    if (i + n > input.length) throw new Error('LZ4 frame is cut short');
  };
  while (i < input.length) {
    need(4);
    const magic = view.getUint32(i, true);
    i += 4;
    if (isSkippableMagic(magic)) {
      need(4);
      i += 4 + view.getUint32(i, true);
      continue;
    }
    if (magic !== LZ4_FRAME_MAGIC) throw new Error(`not an LZ4 frame (magic 0x${magic.toString(16)})`);
    need(2);
    const flags = input[i++]!;
    const bd = input[i++]!;
    if (flags >> 6 !== 1) throw new Error(`unsupported LZ4 frame version ${flags >> 6}`);
    const blockChecksum = (flags & 0x10) !== 0;
    const contentSize = (flags & 0x08) !== 0;
    const contentChecksum = (flags & 0x04) !== 0;
    const dictionaryId = (flags & 0x01) !== 0;
    const blockMax = BLOCK_MAX_SIZE[(bd >> 4) & 7];
    if (blockMax === undefined) throw new Error(`invalid LZ4 block size code ${(bd >> 4) & 7}`);
    if (dictionaryId) throw new Error('LZ4 frames with a dictionary are not supported');
    i += (contentSize ? 8 : 0) + 1; // content size (not needed: the output grows), header checksum
    for (;;) {
      need(4);
      const word = view.getUint32(i, true);
      i += 4;
      if (word === 0) break; // end mark
      const size = word & 0x7fffffff;
      if (size > blockMax) throw new Error(`LZ4 block of ${size} bytes exceeds the frame's maximum ${blockMax}`);
      need(size);
      if (word & 0x80000000)
        out.append(input.subarray(i, i + size)); // stored uncompressed
      else decodeLz4Block(input.subarray(i, i + size), out, blockMax);
      i += size + (blockChecksum ? 4 : 0);
    }
    if (contentChecksum) i += 4;
    if (i > input.length) throw new Error('LZ4 frame is cut short');
  }
  return out.bytes();
}

/** One LZ4 block (sequences of literals and back-references) appended to `out`, which holds any earlier blocks. */
function decodeLz4Block(block: Uint8Array, out: GrowableBytes, blockMax: number): void {
  out.reserve(blockMax);
  const limit = out.length + blockMax;
  let i = 0;
  const length = (base: number) => {
    let n = base;
    if (base === 15) {
      let b: number;
      do {
        if (i >= block.length) throw new Error('LZ4 block is cut short');
        n += b = block[i++]!;
      } while (b === 255);
    }
    return n;
  };
  while (i < block.length) {
    const token = block[i++]!;
    const literals = length(token >> 4);
    if (i + literals > block.length || out.length + literals > limit)
      throw new Error('LZ4 block literals run past the block');
    out.append(block.subarray(i, i + literals));
    i += literals;
    if (i === block.length) return; // the last sequence has literals only
    if (i + 2 > block.length) throw new Error('LZ4 block is cut short');
    const offset = block[i]! | (block[i + 1]! << 8);
    i += 2;
    const match = length(token & 15) + 4;
    if (offset === 0 || offset > out.length) throw new Error(`LZ4 match offset ${offset} points before the data`);
    if (out.length + match > limit) throw new Error('LZ4 block match runs past the block');
    out.copyWithin(offset, match);
  }
}

/** A byte buffer that grows by doubling, with the overlapping back-copy LZ4 matches need. */
class GrowableBytes {
  private buffer: Uint8Array;
  length = 0;
  constructor(capacity: number) {
    this.buffer = new Uint8Array(Math.max(capacity, 1024));
  }
  reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < this.length + extra) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }
  append(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }
  /** Appends `count` bytes copied from `offset` bytes back; the source may overlap what is being written (runs). */
  copyWithin(offset: number, count: number): void {
    this.reserve(count);
    const b = this.buffer;
    let from = this.length - offset;
    if (offset >= count) {
      b.copyWithin(this.length, from, from + count);
    } else {
      for (let k = 0; k < count; k++) b[this.length + k] = b[from++]!;
    }
    this.length += count;
  }
  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}
