/** The shapes of stored sequences: what the SequenceStore takes, holds and gives back. */

/**
 * Who holds a sequence: the exemplar states call `retain` when a sequence enters one of their lists and `release`
 * when it leaves, so the store keeps a sequence's tokens exactly as long as some feature refers to it.
 */
export interface SequenceReferences {
  retain(sequenceId: number): void;
  release(sequenceId: number): void;
}

/** What the host knows about a sequence when it builds a batch. */
export interface SequenceContent {
  /** Token ids, `seqLen` of them (right-padded past `length`). */
  readonly tokens: ArrayLike<number>;
  /** Real tokens (default `seqLen`). */
  readonly length?: number;
  /** Index of the dataset in the run's sorted dataset names (the reference dump's `dataset_ids`). */
  readonly datasetIndex: number;
  /** The source document's stable id. */
  readonly documentId: string;
  /** Which split the document belongs to (`train`, `valid`, `test`). */
  readonly split: string;
  /** Index of the window within its document (0 for the first), when the host knows it. */
  readonly window?: number;
  /** First position that counts in reductions (a fixed prefix before it), when the host knows it. */
  readonly countFrom?: number;
}

/** A stored sequence; `tokens` is a copy. */
export interface SequenceRecord {
  readonly sequenceId: number;
  readonly tokens: Int32Array;
  readonly length: number;
  readonly datasetIndex: number;
  readonly documentId: string;
  readonly split: string;
}

/** Where a stored sequence sits in its document: each field is present only when the host gave it. */
export interface SequencePlacement {
  readonly window?: number;
  readonly countFrom?: number;
}

/** SequenceStore.columns(): per-slot arrays; windows and countFroms hold -1 where not given. */
export interface SequenceColumns {
  /** The slot of a stored sequence (with content), or -1. */
  slotOf(sequenceId: number): number;
  /** [slots, seqLen] */
  readonly tokens: Int32Array;
  readonly lengths: Int32Array;
  readonly datasetIndexes: Int32Array;
  readonly splitIndexes: Int32Array;
  readonly splitNames: readonly string[];
  readonly windows: Int32Array;
  readonly countFroms: Int32Array;
  readonly documentIds: readonly string[];
}

export interface SequenceStoreOptions {
  readonly seqLen: number;
  /** Slots allocated up front (it grows by doubling). */
  readonly initialCapacity?: number;
}
