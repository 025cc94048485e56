import { ExpgenError, type DatasetSource, type SourceDocument } from '@expgen/contract';
import { documentSplit, type SplitAssignment, type SplitName } from './splits.js';
import type { DocumentCut, DocumentWindower } from './windows.js';

/** A window of one document, with where it lies in the corpus. */
export interface Walked {
  readonly cut: Exclude<DocumentCut, { kind: 'skipped' }>;
  readonly window: number;
  readonly documentId: string;
  readonly split: SplitName;
}

/** Documents of one source, pulled lazily, turned into windows one at a time. */
export class SourceCursor {
  documents = 0;
  skippedShort = 0;
  skippedEmpty = 0;
  sequences = 0;
  tokens = 0;
  private iterator: AsyncIterator<SourceDocument> | null = null;
  private current: Omit<Walked, 'window'> | null = null;
  private nextWindow = 0;
  private exhausted = false;

  constructor(
    readonly source: DatasetSource,
    readonly name: string,
    readonly ratio: number,
    private readonly windower: DocumentWindower,
    private readonly splits: SplitAssignment,
    private readonly seed: number,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** The next window of this source, or null when its documents are exhausted. */
  async next(): Promise<Walked | null> {
    while (this.current === null || this.nextWindow >= this.current.cut.windows) {
      this.current = null;
      if (this.exhausted) return null;
      const document = await this.pull();
      if (document === null) {
        this.exhausted = true;
        return null;
      }
      this.documents++;
      const documentId = document.id;
      if (typeof documentId !== 'string' || documentId.length === 0) {
        throw new ExpgenError(`dataset "${this.name}": document #${this.documents - 1} has no id (a non-empty string)`);
      }
      const cut = this.windower.cut(document, `dataset "${this.name}": document ${JSON.stringify(documentId)}`);
      if (cut.kind === 'skipped') {
        if (cut.reason === 'empty') this.skippedEmpty++;
        else this.skippedShort++;
        continue;
      }
      this.current = { cut, documentId, split: documentSplit(this.splits, this.seed, documentId) };
      this.nextWindow = 0;
    }
    return { ...this.current, window: this.nextWindow++ };
  }

  async close(): Promise<void> {
    const iterator = this.iterator;
    this.iterator = null;
    this.current = null;
    await iterator?.return?.();
  }

  /** A source's own errors pass unchanged: the run's container stamps them with the plugin and component. */
  private async pull(): Promise<SourceDocument | null> {
    this.iterator ??= this.source.documents(this.signal ? { signal: this.signal } : undefined)[Symbol.asyncIterator]();
    const result = await this.iterator.next();
    return result.done ? null : result.value;
  }
}
