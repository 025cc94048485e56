import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CallStore } from '@expgen/contract';
import { canonicalJson } from './canonical-json.js';
import { errorAtTarget, temporaryPathFor, trackTemporary } from './temporary-files.js';

/**
 * A durable cache of model calls (explainer answers, simulator outputs), shared by runs and by the processes of a
 * sharded run. An entry is one JSON file named by the sha256 of the canonical JSON of the request — everything that
 * determines the answer: prompt, model, sampling parameters, seed — written to a unique temporary name and renamed
 * into place, so concurrent writers never leave a torn entry and readers see whole entries or none. Only successful
 * answers are stored: a failed call is tried again by the next run.
 */
export class CallCache {
  /** Calls answered from the cache and calls stored, since this object was made. */
  readonly stats = { hits: 0, misses: 0, writes: 0 };
  private readonly folder: string;
  /** Shard folders known to exist: creating one per write cost a third of a cached call's time. */
  private readonly made = new Set<string>();

  /** `namespace` keeps kinds of calls apart (e.g. `describer/openai-compatible`); it is part of the folder. */
  constructor(cacheDir: string, namespace: string) {
    this.folder = join(cacheDir, 'calls', ...namespace.split('/').map((part) => part.replace(/[^A-Za-z0-9._-]/g, '_')));
  }

  key(request: unknown): string {
    return createHash('sha256').update(canonicalJson(request)).digest('hex');
  }

  async get<T>(request: unknown): Promise<T | undefined> {
    const path = this.pathOf(this.key(request));
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      this.stats.misses++;
      return undefined;
    }
    try {
      const entry = JSON.parse(text) as { request: unknown; value: T };
      // A hash collision, or a file someone edited: treat as a miss rather than answer another request.
      if (canonicalJson(entry.request) !== canonicalJson(request)) {
        this.stats.misses++;
        return undefined;
      }
      this.stats.hits++;
      return entry.value;
    } catch {
      await rm(path, { force: true });
      this.stats.misses++;
      return undefined;
    }
  }

  async put(request: unknown, value: unknown): Promise<void> {
    const key = this.key(request);
    const path = this.pathOf(key);
    const shard = join(this.folder, key.slice(0, 2));
    if (!this.made.has(shard)) {
      await mkdir(shard, { recursive: true });
      this.made.add(shard);
    }
    const temporary = temporaryPathFor(path);
    const forget = trackTemporary(temporary);
    try {
      await writeFile(temporary, JSON.stringify({ request, value }));
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw errorAtTarget(error, temporary, path);
    } finally {
      forget();
    }
    this.stats.writes++;
  }

  private pathOf(key: string): string {
    return join(this.folder, key.slice(0, 2), `${key}.json`);
  }
}

/**
 * The call store a component should use for `namespace`: the run's (`context.callCache`, which the engine provides
 * and a test may swap), or a `CallCache` over the context's cache folder when the component runs outside a run.
 */
export function callStoreFor(
  context: { readonly cacheDir: string; readonly callCache?: (namespace: string) => CallStore },
  namespace: string,
): CallStore {
  return context.callCache?.(namespace) ?? new CallCache(context.cacheDir, namespace);
}
