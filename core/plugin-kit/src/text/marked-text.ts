import { ExpgenError, type Tokenizer } from '@expgen/contract';
import { specialTokenNames, utf8SequenceLength, validUtf8Continuation } from './utf8-tokens.js';

// Marked text, as explainers and judges read it: a sequence of the subject's tokens decoded to display text, the
// chosen positions wrapped in markers, and every string that could act as a control token or forge a marker
// escaped. Stage 2 marks where the activation reaches the threshold; the fuzzing judge marks true or random tokens.

/** The strings that open and close a marked span in a prompt. */
export interface MarkerStrings {
  readonly open: string;
  readonly close: string;
}

/** The reference's markers: activating tokens are shown as `{{...}}`. */
export const DEFAULT_MARKERS: MarkerStrings = Object.freeze({ open: '{{', close: '}}' });

/**
 * The escape: U+200B ZERO WIDTH SPACE inserted after the first character of anything in the data that spells a
 * marker or a control token (`{{` -> `{\u200b{`, `<|eot_id|>` -> `<\u200b|eot_id|>`). A reader sees the same text;
 * no tokenizer or marker parser matches it any more.
 */
export const ESCAPE_CHAR = '\u200b';

/**
 * Escaped in all data besides the subject tokenizer's own special-token strings: the prefix of every Llama 3,
 * ChatML (Qwen, OpenAI) and similar control token, since the explainer's tokenizer need not be the subject's.
 */
export const GENERIC_CONTROL_PREFIXES: readonly string[] = ['<|'];

/** How line breaks inside an exemplar are shown, so each exemplar stays on one line of the numbered list. */
export const LINE_BREAK_DISPLAY: Readonly<Record<string, string>> = Object.freeze({ '\n': '\\n', '\r': '\\r' });

const SPACE = ' ';
const REPLACEMENT = '\ufffd';
// ignoreBOM: a U+FEFF in the data is a character to show, not a byte-order mark to drop.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

export interface MarkedTokensOptions {
  readonly tokenizer: Tokenizer;
  /** First position shown (the row's `countFrom`): the fixed prefix before it is not rendered at all. Default 0. */
  readonly countFrom?: number;
  readonly markers?: MarkerStrings;
}

export interface RenderedText {
  /** The display text: markers around marked spans, data escaped, line breaks shown as `\n`. */
  readonly text: string;
  /** Each marked span's text in order, as in the data (unescaped), without the spaces moved outside the markers. */
  readonly spans: readonly string[];
  /** Marked token positions (counted positions only). */
  readonly markedTokens: number;
}

/**
 * Renders one sequence with the tokens at `marked` positions wrapped in markers: the explainer's exemplars (marked
 * where the activation reaches the threshold) and the judges' sequences (marked where a fuzzing scorer says).
 *
 * - Only positions from `countFrom` on are shown (and can be marked): the prefix is a fixed chat header whose
 *   marks would mislead.
 * - Token bytes (`tokenizer.tokenBytes`) are decoded as one UTF-8 stream, so a character split over several
 *   tokens is shown whole; it is marked when any of its tokens is. Invalid or cut-off bytes show as U+FFFD.
 * - Consecutive marked characters form one span; spaces at either end of a span are moved outside the markers
 *   (a span of spaces only stays marked, so an activation on whitespace is not hidden).
 * - Special tokens in the sequence (BOS, chat headers) show as their strings, escaped like data; data that spells
 *   a special token, `<|` or a marker is escaped with ESCAPE_CHAR, and where data meets a marker so that together
 *   they would spell one (`{` before `{{`), ESCAPE_CHAR separates them. Every marker string in the output is a real
 *   marker, and no control-token string survives.
 * - Line breaks show as `\n` and `\r`, so a sequence is one line.
 */
export function renderMarkedTokens(
  tokens: ArrayLike<number>,
  marked: ArrayLike<boolean>,
  options: MarkedTokensOptions,
): RenderedText {
  if (tokens.length !== marked.length) {
    throw new ExpgenError(
      `cannot render a sequence of ${tokens.length} tokens with ${marked.length} marks: the lists must have the same length`,
    );
  }
  const markers = options.markers ?? DEFAULT_MARKERS;
  checkMarkers(markers);
  const from = Math.max(0, options.countFrom ?? 0);
  const marks: boolean[] = [];
  let markedTokens = 0;
  for (let i = 0; i < tokens.length; i++) {
    const on = i >= from && marked[i] === true;
    marks.push(on);
    if (on) markedTokens++;
  }
  const chars = displayCharacters(tokens, from, marks, options.tokenizer);

  // Runs of equally marked characters; marked runs become [spaces] open core close [spaces].
  const segments: Segment[] = [];
  const spans: string[] = [];
  let i = 0;
  while (i < chars.length) {
    const marked = chars[i]!.marked;
    let text = '';
    while (i < chars.length && chars[i]!.marked === marked) text += chars[i++]!.text;
    if (!marked) {
      pushData(segments, text);
      continue;
    }
    let start = 0;
    let end = text.length;
    while (start < end && text[start] === SPACE) start++;
    while (end > start && text[end - 1] === SPACE) end--;
    if (start === end) {
      start = 0;
      end = text.length;
    }
    const core = text.slice(start, end);
    spans.push(core);
    pushData(segments, text.slice(0, start));
    segments.push({ kind: 'marker', text: markers.open });
    pushData(segments, core);
    segments.push({ kind: 'marker', text: markers.close });
    pushData(segments, text.slice(end));
  }

  const patterns = escapePatterns(options.tokenizer, markers);
  for (const segment of segments) {
    if (segment.kind === 'data') segment.text = escapeData(showLineBreaks(segment.text), patterns);
  }
  separateForgedMarkers(segments, patterns);
  return { text: segments.map((s) => s.text).join(''), spans, markedTokens };
}

/** Escapes data text for display: each occurrence of a pattern gets ESCAPE_CHAR after its first character. */
export function escapeDisplayText(
  text: string,
  tokenizer: Tokenizer,
  markers: MarkerStrings = DEFAULT_MARKERS,
): string {
  checkMarkers(markers);
  return escapeData(text, escapePatterns(tokenizer, markers));
}

interface Segment {
  kind: 'data' | 'marker';
  text: string;
}

function pushData(segments: Segment[], text: string): void {
  if (text === '') return;
  const last = segments[segments.length - 1];
  if (last?.kind === 'data') last.text += text;
  else segments.push({ kind: 'data', text });
}

function checkMarkers(markers: MarkerStrings): void {
  for (const [name, value] of [
    ['open', markers.open],
    ['close', markers.close],
  ] as const) {
    if ([...value].length < 2 || /\s/.test(value) || value.includes(ESCAPE_CHAR)) {
      throw new ExpgenError(
        `prompt marker ${name} ${JSON.stringify(value)} is not valid: use at least two characters, no whitespace and no U+200B`,
      );
    }
  }
}

interface DisplayChar {
  readonly text: string;
  readonly marked: boolean;
}

/**
 * Decodes tokens [from, end) into characters, each marked when any token contributing a byte to it is marked.
 * Bytes of ordinary tokens form one UTF-8 stream (WHATWG decoding: each maximal invalid subpart is one U+FFFD);
 * a special token interrupts it and shows as its string.
 */
function displayCharacters(
  tokens: ArrayLike<number>,
  from: number,
  marks: readonly boolean[],
  tokenizer: Tokenizer,
): DisplayChar[] {
  const out: DisplayChar[] = [];
  const bytes: number[] = [];
  const owners: number[] = [];
  const names = specialTokenNames(tokenizer);
  const emit = (text: string, first: number, count: number) => {
    let marked = false;
    for (let k = first; k < first + count; k++) marked ||= marks[owners[k]!]!;
    out.push({ text, marked });
  };
  /** Decodes complete characters from the front of `bytes`; at the end (`final`) also the cut-off tail. */
  const drain = (final: boolean) => {
    let pos = 0;
    outer: while (pos < bytes.length) {
      const lead = bytes[pos]!;
      const length = utf8SequenceLength(lead);
      if (length === 1) {
        emit(String.fromCharCode(lead), pos, 1);
        pos += 1;
        continue;
      }
      if (length === 0) {
        emit(REPLACEMENT, pos, 1);
        pos += 1;
        continue;
      }
      for (let k = 1; k < length; k++) {
        if (pos + k >= bytes.length) {
          if (!final) break outer;
          emit(REPLACEMENT, pos, k);
          pos += k;
          continue outer;
        }
        if (!validUtf8Continuation(lead, k, bytes[pos + k]!)) {
          emit(REPLACEMENT, pos, k);
          pos += k;
          continue outer;
        }
      }
      emit(utf8.decode(Uint8Array.from(bytes.slice(pos, pos + length))), pos, length);
      pos += length;
    }
    bytes.splice(0, pos);
    owners.splice(0, pos);
  };
  for (let i = from; i < tokens.length; i++) {
    const id = tokens[i]!;
    if (tokenizer.isSpecial(id)) {
      drain(true);
      out.push({ text: names.get(id) ?? utf8.decode(tokenizer.tokenBytes(id)), marked: marks[i]! });
      continue;
    }
    for (const b of tokenizer.tokenBytes(id)) {
      bytes.push(b);
      owners.push(i);
    }
    drain(false);
  }
  drain(true);
  return out;
}

const patternCache = new WeakMap<Tokenizer, Map<string, readonly string[]>>();

/**
 * What data must never spell: the markers, the generic control prefixes and the subject's special-token strings
 * (those a generic prefix already breaks, and one-character ones, which cannot be split, are left out).
 */
function escapePatterns(tokenizer: Tokenizer, markers: MarkerStrings): readonly string[] {
  let byMarkers = patternCache.get(tokenizer);
  if (!byMarkers) patternCache.set(tokenizer, (byMarkers = new Map()));
  const key = `${markers.open}\u0000${markers.close}`;
  let patterns = byMarkers.get(key);
  if (!patterns) {
    const set = new Set<string>([markers.open, markers.close, ...GENERIC_CONTROL_PREFIXES]);
    for (const text of tokenizer.specialTokens.keys()) {
      if ([...text].length >= 2 && !GENERIC_CONTROL_PREFIXES.some((prefix) => text.includes(prefix))) set.add(text);
    }
    patterns = [...set].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
    byMarkers.set(key, patterns);
  }
  return patterns;
}

function showLineBreaks(text: string): string {
  return text.replace(/[\r\n]/g, (c) => LINE_BREAK_DISPLAY[c]!);
}

function firstCodePointLength(text: string): number {
  return text.codePointAt(0)! > 0xffff ? 2 : 1;
}

/** Inserts ESCAPE_CHAR after the first character of every (possibly overlapping) occurrence of a pattern. */
function escapeData(text: string, patterns: readonly string[]): string {
  let out = text;
  // Left to right: an insertion only breaks occurrences through its position, so earlier positions stay clean.
  for (let at = 0; at < out.length; at++) {
    const pattern = patterns.find((p) => out.startsWith(p, at));
    if (pattern === undefined) continue;
    const cut = at + firstCodePointLength(pattern);
    out = out.slice(0, cut) + ESCAPE_CHAR + out.slice(cut);
  }
  return out;
}

/**
 * Where a marker meets data, their characters together could spell a marker (or control string) that straddles
 * the join: `{` + `{{` reads as `{{` + `{`. Such joins get ESCAPE_CHAR on the data side; repeated until no pattern
 * occurrence straddles a join, so every marker string in the output is one of ours.
 */
function separateForgedMarkers(segments: Segment[], patterns: readonly string[]): void {
  const longest = Math.max(...patterns.map((p) => p.length));
  const straddles = (full: string, join: number) => {
    for (let at = Math.max(0, join - longest + 1); at < join; at++) {
      if (patterns.some((p) => at + p.length > join && full.startsWith(p, at))) return true;
    }
    return false;
  };
  for (;;) {
    const full = segments.map((s) => s.text).join('');
    let join = 0;
    let fixed = false;
    for (let k = 0; k + 1 < segments.length && !fixed; k++) {
      join += segments[k]!.text.length;
      if (!straddles(full, join)) continue;
      const left = segments[k]!;
      const right = segments[k + 1]!;
      if (left.kind === 'data') left.text += ESCAPE_CHAR;
      else if (right.kind === 'data') right.text = ESCAPE_CHAR + right.text;
      else segments.splice(k + 1, 0, { kind: 'data', text: ESCAPE_CHAR });
      fixed = true;
    }
    if (!fixed) return;
  }
}
