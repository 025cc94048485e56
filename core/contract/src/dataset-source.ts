import type { Provenance } from './provenance.js';
import type { ChatMessage } from './tokenizer.js';

/** One document of a corpus: web text (`text`) or a conversation (`messages`), never both. */
export interface SourceDocument {
  /** Stable id: the source's id field when it has one, else a hash of the content. Splits are derived from it. */
  readonly id: string;
  readonly text?: string;
  readonly messages?: readonly ChatMessage[];
}

/** A stream of documents (FineWeb parquet shards, LMSYS-Chat JSON Lines, ...). */
export interface DatasetSource {
  readonly provenance: Provenance;
  /** Short name recorded with every exemplar (`dataset id`), unique within a run. */
  readonly name: string;
  /** Documents in a stable order; a second call starts again from the beginning. */
  documents(options?: { signal?: AbortSignal }): AsyncIterable<SourceDocument>;
  dispose?(): Promise<void> | void;
}
