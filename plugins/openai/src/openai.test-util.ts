import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryLogger } from '@expgen/contract/testing';
import type { ComponentContext, ComponentKind, DescribeRequest, SubjectModel } from '@expgen/contract';

/** Shared by this package's tests (not a test file itself): contexts, requests, a fake clock. */

export function testContext(
  kind: ComponentKind,
  options: { subject?: SubjectModel; cacheDir?: string } = {},
): ComponentContext & { logger: ReturnType<typeof memoryLogger>; cacheDir: string } {
  return {
    provenance: { kind, component: 'openai-compatible', plugin: '@expgen/plugin-openai', pluginVersion: '0.1.0' },
    baseDir: process.cwd(),
    cacheDir: options.cacheDir ?? mkdtempSync(join(tmpdir(), 'expgen-openai-')),
    logger: memoryLogger(),
    ...(options.subject ? { subject: options.subject } : {}),
  };
}

export function describeRequest(count: number, seed = 100, text = 'the cat sat on the mat'): DescribeRequest {
  return {
    feature: { space: 'mlp', layer: 3, index: 7 },
    sign: 'positive',
    exemplars: [],
    threshold: 1,
    messages: [
      { role: 'system', content: 'Describe the feature. End with [DESCRIPTION]: <description>.' },
      { role: 'user', content: text },
    ],
    count,
    seed,
  };
}

/** A clock whose sleeps return at once and are recorded, so retry delays are checked without waiting for them. */
export function fakeClock(start = Date.UTC(2025, 0, 1, 12, 0, 0)) {
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => start,
    sleep: async (ms: number) => void sleeps.push(ms),
  };
}

/** Every file under a folder, with its text. */
export function filesUnder(dir: string): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push({ path: p, text: readFileSync(p, 'utf8') });
    }
  };
  walk(dir);
  return out;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
