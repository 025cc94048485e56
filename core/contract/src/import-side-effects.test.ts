// Importing the contract (and its testing kit, and the plugin kit) must change nothing global: no Reflect metadata
// polyfill, no DI container. Checked in a fresh process, since this one may have loaded the engine already.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Imports `specifiers` in a new Node process and returns what it saw of the global `Reflect` afterwards. */
function importInFreshProcess(specifiers: readonly string[]): { getMetadata: string; defineMetadata: string } {
  const script = [
    ...specifiers.map((s) => `await import(${JSON.stringify(s)});`),
    'console.log(JSON.stringify({ getMetadata: typeof Reflect.getMetadata, defineMetadata: typeof Reflect.defineMetadata }));',
  ].join('\n');
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
}

describe('importing the plugin-author packages has no side effects', () => {
  it('@expgen/contract, @expgen/contract/testing and @expgen/plugin-kit leave Reflect.getMetadata undefined', () => {
    assert.deepEqual(importInFreshProcess(['@expgen/contract', '@expgen/contract/testing', '@expgen/plugin-kit']), {
      getMetadata: 'undefined',
      defineMetadata: 'undefined',
    });
  });

  it('the engine entry point is where the polyfill is loaded (the check above can fail)', () => {
    assert.equal(importInFreshProcess(['@expgen/core']).getMetadata, 'function');
  });
});
