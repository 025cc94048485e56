import { ExpgenError, type SourceDocument, type Tokenizer } from '@expgen/contract';

/** How documents become sequences: the `exemplars` config keys of that name. */
export interface WindowingOptions {
  readonly tokenizer: Tokenizer;
  /** Tokens per sequence, prefix included. */
  readonly seqLen: number;
  /**
   * Trusted text that starts every web-text sequence, encoded with `encodeWithSpecialTokens` and used exactly as
   * encoded: no BOS is added, so a prefix that wants one spells it (`<|begin_of_text|>...`); `''` means no prefix
   * and no BOS. `null`: the sequence starts with the tokenizer's BOS (none if it has no BOS).
   */
  readonly prefix: string | null;
  /** Whether the prefix (or a chat window's leading BOS) counts when ranking exemplars. */
  readonly rankPrefix: boolean;
  /** Most windows cut from one document, consecutive from its start. */
  readonly windowsPerDocument: number;
  /** Documents shorter than one window: skipped, or kept as one right-padded sequence. */
  readonly shortDocuments: 'skip' | 'pad';
  /** Date given to chat templates that ask for today's (`26 Jul 2024`), so rendering is deterministic. */
  readonly chatDate: string;
}

/** A document tokenized and measured: which windows it gives. */
export type DocumentCut =
  | {
      readonly kind: 'text' | 'chat';
      /** Document tokens: `encode(text)` for web text, `encodeChat(messages)` for chat. */
      readonly content: readonly number[];
      /** Windows it gives, >= 1. */
      readonly windows: number;
      /** Content tokens per window: `seqLen - prefix` for web text, `seqLen` for chat. */
      readonly span: number;
    }
  | {
      readonly kind: 'skipped';
      /** `empty`: no tokens at all (skipped under either setting); `short`: under one window with `skip`. */
      readonly reason: 'empty' | 'short';
      readonly tokens: number;
    };

/** What `fill` wrote into a sequence buffer. */
export interface FilledWindow {
  /** Real tokens; positions past it are padding. */
  readonly length: number;
  /** First position that counts when ranking. */
  readonly rankFrom: number;
}

/**
 * Cuts documents into fixed-length token windows.
 *
 * Web text (`text`): tokenized with `encode` — data, so special-token strings in it stay plain text — and cut into
 * consecutive windows of `seqLen - prefix` tokens from its start; each sequence is prefix + window. Chat
 * (`messages`): rendered with `encodeChat` (the template's markup is real control tokens, message contents are
 * text) and cut into consecutive windows of `seqLen` tokens, with no prefix: the conversation brings its own
 * header. At most `windowsPerDocument` windows, all full, except that a document with no full window is a
 * *short* document: skipped (and counted) under `skip`, kept as one right-padded sequence under `pad`. The tail
 * of a longer document that does not fill a window is dropped, under either setting, so that only documents that
 * would otherwise contribute nothing are padded. A document with no tokens at all is skipped under either setting
 * (a padded sequence of only a prefix has nothing to rank).
 *
 * Ranking starts after the prefix (`rankFrom` = prefix length) unless `rankPrefix`. A chat window that starts with
 * BOS (the first window of a Llama conversation) has `rankFrom` 1 for the same reason the default web-text prefix
 * (BOS alone) does: BOS is the model's attention sink and carries outlier activations that say nothing about the
 * document. Later chat windows start mid-conversation, without BOS, and rank from 0.
 */
export class DocumentWindower {
  readonly seqLen: number;
  /** The tokens every web-text sequence starts with. */
  readonly prefixTokens: Int32Array;
  private readonly tokenizer: Tokenizer;
  private readonly rankPrefix: boolean;
  private readonly windowsPerDocument: number;
  private readonly shortDocuments: 'skip' | 'pad';
  private readonly chatDate: string;

  constructor(options: WindowingOptions) {
    this.tokenizer = options.tokenizer;
    this.seqLen = checkInteger('exemplars.seqLen', options.seqLen, 2);
    this.windowsPerDocument = checkInteger('exemplars.windowsPerDocument', options.windowsPerDocument, 1);
    if (options.shortDocuments !== 'skip' && options.shortDocuments !== 'pad') {
      throw new ExpgenError(
        `exemplars.shortDocuments: expected "skip" or "pad", got ${JSON.stringify(options.shortDocuments)}`,
      );
    }
    this.shortDocuments = options.shortDocuments;
    this.rankPrefix = options.rankPrefix === true;
    this.chatDate = options.chatDate;
    const { prefix } = options;
    if (prefix !== null && typeof prefix !== 'string') {
      throw new ExpgenError(`exemplars.prefix: expected text or null, got ${typeof prefix}`);
    }
    const bos = options.tokenizer.bosId;
    this.prefixTokens = Int32Array.from(
      prefix === null ? (bos === null ? [] : [bos]) : options.tokenizer.encodeWithSpecialTokens(prefix),
    );
    if (this.prefixTokens.length >= this.seqLen) {
      throw new ExpgenError(
        `exemplars.prefix: the prefix is ${this.prefixTokens.length} tokens but exemplars.seqLen is ${this.seqLen}; ` +
          'shorten the prefix or raise seqLen so that each sequence keeps at least one document token',
      );
    }
  }

  /** Content tokens per web-text window. */
  get textSpan(): number {
    return this.seqLen - this.prefixTokens.length;
  }

  /**
   * Tokenizes a document and says how many windows it gives. `where` names the document in errors
   * (`dataset "fineweb": document "abc"`).
   */
  cut(document: SourceDocument, where: string): DocumentCut {
    const hasText = document.text !== undefined && document.text !== null;
    const hasMessages = document.messages !== undefined && document.messages !== null;
    if (hasText && hasMessages)
      throw new ExpgenError(`${where} has both text and messages; a document is one or the other`);
    if (!hasText && !hasMessages) throw new ExpgenError(`${where} has neither text nor messages`);
    let kind: 'text' | 'chat';
    let content: readonly number[];
    let span: number;
    if (hasText) {
      if (typeof document.text !== 'string')
        throw new ExpgenError(`${where}: text must be a string, got ${typeof document.text}`);
      kind = 'text';
      span = this.textSpan;
      content = document.text.length === 0 ? [] : this.tokenizer.encode(document.text);
    } else {
      const messages = document.messages!;
      if (!Array.isArray(messages)) throw new ExpgenError(`${where}: messages must be a list of {role, content}`);
      for (const [i, m] of messages.entries()) {
        if (typeof m !== 'object' || m === null || typeof m.role !== 'string' || typeof m.content !== 'string') {
          throw new ExpgenError(`${where}: message ${i} must have a string role and content`);
        }
      }
      kind = 'chat';
      span = this.seqLen;
      // A conversation without turns would render to the template's header alone: nothing of the document.
      content = messages.length === 0 ? [] : this.tokenizer.encodeChat(messages, { date: this.chatDate });
    }
    if (content.length === 0) return { kind: 'skipped', reason: 'empty', tokens: 0 };
    const full = Math.floor(content.length / span);
    if (full === 0) {
      if (this.shortDocuments === 'skip') return { kind: 'skipped', reason: 'short', tokens: content.length };
      return { kind, content, windows: 1, span };
    }
    return { kind, content, windows: Math.min(full, this.windowsPerDocument), span };
  }

  /**
   * Writes window `window` of a cut document into `out` (`seqLen` slots; positions past the length are set to
   * `padId`).
   */
  fill(cut: Exclude<DocumentCut, { kind: 'skipped' }>, window: number, out: Int32Array, padId: number): FilledWindow {
    if (!(Number.isInteger(window) && window >= 0 && window < cut.windows)) {
      throw new Error(`DocumentWindower: window ${window} of a document with ${cut.windows}`);
    }
    if (out.length !== this.seqLen)
      throw new Error(`DocumentWindower: buffer of ${out.length} for seqLen ${this.seqLen}`);
    const start = window * cut.span;
    const end = Math.min(start + cut.span, cut.content.length);
    let at = 0;
    if (cut.kind === 'text') {
      out.set(this.prefixTokens, 0);
      at = this.prefixTokens.length;
    }
    for (let i = start; i < end; i++) out[at++] = cut.content[i]!;
    const length = at;
    out.fill(padId, length);
    let rankFrom = 0;
    if (!this.rankPrefix) {
      if (cut.kind === 'text') rankFrom = this.prefixTokens.length;
      else if (this.tokenizer.bosId !== null && length > 1 && out[0] === this.tokenizer.bosId) rankFrom = 1;
    }
    return { length, rankFrom };
  }

  /** Real tokens of a window, without writing it (for walking sequences another shard owns). */
  lengthOf(cut: Exclude<DocumentCut, { kind: 'skipped' }>, window: number): number {
    const content = Math.min(cut.span, cut.content.length - window * cut.span);
    return (cut.kind === 'text' ? this.prefixTokens.length : 0) + content;
  }
}

function checkInteger(key: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min)
    throw new ExpgenError(`${key}: expected an integer >= ${min}, got ${String(value)}`);
  return value;
}
