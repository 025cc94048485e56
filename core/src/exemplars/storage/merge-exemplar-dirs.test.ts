import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { manifestPath } from './layout.js';
import { readExemplarManifest, writeExemplarManifest } from './manifest.js';
import { mergeExemplarOutputs } from './merge-exemplar-dirs.js';
import { writeExemplarOutput } from './state-files.js';
import { SMALL, fixtureInfo, runFixture, type FixtureOptions } from './test-fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'expgen-merge-'));
after(() => rmSync(root, { recursive: true, force: true }));

function filesUnder(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.set(relative(dir, path), readFileSync(path));
    }
  };
  walk(dir);
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** A fixture with fewer features, so the many small merges below stay fast. */
const OPTIONS: FixtureOptions = { ...SMALL, features: 40, layers: SMALL.layers.slice(0, 2) };

/** Writes shard `index` of `count` (the ids i with i % count === index) of `options` into a new folder. */
function writeShard(
  name: string,
  index: number,
  count: number,
  options: FixtureOptions = OPTIONS,
  extra: { complete?: boolean; configHash?: string } = {},
): string {
  const dir = join(root, name);
  const run = runFixture(options, (id) => id % count === index);
  writeExemplarOutput(dir, {
    ...run,
    info: fixtureInfo(options, extra.configHash ?? 'c0ffee'),
    shard: { index, count },
    complete: extra.complete ?? true,
  });
  return dir;
}

function rejectsWith(promise: Promise<unknown>, pattern: RegExp, folder: string): Promise<void> {
  return assert.rejects(promise, (error: Error) => {
    assert.ok(isExpgenError(error), `expected an ExpgenError, got ${error.stack}`);
    assert.match(error.message, pattern);
    assert.ok(error.message.includes(folder), `"${error.message}" should name ${folder}`);
    assert.ok(!error.message.includes('\n'), 'one line');
    return true;
  });
}

describe('mergeExemplarOutputs', () => {
  let single: string;
  let shards: string[];
  before(() => {
    single = join(root, 'single');
    writeExemplarOutput(single, runFixture(OPTIONS));
    shards = [writeShard('shard-0-of-3', 0, 3), writeShard('shard-1-of-3', 1, 3), writeShard('shard-2-of-3', 2, 3)];
  });

  it('writes files byte-identical to a single run over the union, manifest included', async () => {
    const merged = join(root, 'merged');
    const manifest = await mergeExemplarOutputs(shards, merged);
    assert.deepEqual(filesUnder(merged), filesUnder(single));
    assert.deepEqual(manifest, readExemplarManifest(single));
    assert.deepEqual(manifest.shard, { index: 0, count: 1 });
  });

  it('does not depend on the order the folders are given in', async () => {
    const merged = join(root, 'merged-reversed');
    await mergeExemplarOutputs([...shards].reverse(), merged);
    assert.deepEqual(filesUnder(merged), filesUnder(single));
  });

  it('merges two shards as well (a shard of 1 of 1 is just rewritten)', async () => {
    const halves = [writeShard('half-0', 0, 2), writeShard('half-1', 1, 2)];
    const merged = join(root, 'merged-halves');
    await mergeExemplarOutputs(halves, merged);
    assert.deepEqual(filesUnder(merged), filesUnder(single));
    const copy = join(root, 'merged-single');
    await mergeExemplarOutputs([single], copy);
    assert.deepEqual(filesUnder(copy), filesUnder(single));
  });

  it('refuses shards made with another config', async () => {
    const other = writeShard('other-config', 1, 3, OPTIONS, { configHash: 'beef' });
    await rejectsWith(
      mergeExemplarOutputs([shards[0]!, other, shards[2]!], join(root, 'out-config')),
      /was made with config beef/,
      other,
    );
  });

  it('refuses an incomplete shard', async () => {
    const incomplete = writeShard('incomplete', 2, 3, OPTIONS, { complete: false });
    await rejectsWith(
      mergeExemplarOutputs([shards[0]!, shards[1]!, incomplete], join(root, 'out-incomplete')),
      /is an incomplete shard/,
      incomplete,
    );
  });

  it('refuses a missing shard, naming the shards given', async () => {
    await rejectsWith(
      mergeExemplarOutputs([shards[0]!, shards[2]!], join(root, 'out-missing')),
      /shard 2 of 3 is missing/,
      shards[0]!,
    );
  });

  it('refuses two folders that are the same shard, and the same folder twice', async () => {
    const again = writeShard('shard-1-again', 1, 3);
    await rejectsWith(
      mergeExemplarOutputs([shards[0]!, shards[1]!, again, shards[2]!], join(root, 'out-twice')),
      /are both shard 2 of 3: shards overlap/,
      again,
    );
    await rejectsWith(
      mergeExemplarOutputs([shards[0]!, shards[0]!], join(root, 'out-same')),
      /is given twice/,
      shards[0]!,
    );
  });

  it('refuses shards that hold the same sequences under different shard numbers', async () => {
    // Shard "1 of 2" made from the ids of shard 0: every sequence of it is also in shard 0.
    const overlapping = join(root, 'overlapping');
    const run = runFixture(OPTIONS, (id) => id % 2 === 0);
    writeExemplarOutput(overlapping, { ...run, shard: { index: 1, count: 2 } });
    await rejectsWith(
      mergeExemplarOutputs([writeShard('even', 0, 2), overlapping], join(root, 'out-overlap')),
      /overlaps an earlier shard in mlp\/0\/train .*in both/,
      overlapping,
    );
    // All or nothing: no exemplars in the output folder, and the staging folder beside it is gone.
    assert.equal(existsSync(join(root, 'out-overlap', 'exemplars')), false);
    assert.deepEqual(
      readdirSync(root).filter((name) => name.includes('merging')),
      [],
    );
  });

  it('refuses a folder that is not an exemplar output, and an output folder that already holds exemplars', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    await rejectsWith(mergeExemplarOutputs([empty], join(root, 'out-empty')), /has no exemplars\/manifest.json/, empty);
    await rejectsWith(mergeExemplarOutputs(shards, single), /already holds exemplars/, single);
    await rejectsWith(mergeExemplarOutputs(shards, shards[0]!), /is also a shard folder/, shards[0]!);
  });

  it('reports a damaged manifest with its path and key', async () => {
    const damaged = writeShard('damaged', 1, 3);
    const manifest = JSON.parse(readFileSync(manifestPath(damaged), 'utf8')) as Record<string, unknown>;
    writeFileSync(manifestPath(damaged), JSON.stringify({ ...manifest, shard: { index: 3, count: 3 } }));
    await rejectsWith(
      mergeExemplarOutputs([shards[0]!, damaged, shards[2]!], join(root, 'out-damaged')),
      /"shard.index" must be below shard.count/,
      damaged,
    );
    writeExemplarManifest(damaged, {
      ...readExemplarManifest(shards[1]!),
      splits: { ...readExemplarManifest(shards[1]!).splits, train: { sequencesSeen: 1, tokensSeen: 2 } },
    });
    await rejectsWith(
      mergeExemplarOutputs([shards[0]!, damaged, shards[2]!], join(root, 'out-counts')),
      /manifests add up to .* a shard folder was changed/,
      'split "train"',
    );
  });
});
