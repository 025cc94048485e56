/** One turn of a chat conversation, as LMSYS-Chat and the OpenAI API spell it. */
export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant' | (string & {});
  readonly content: string;
}

/**
 * The subject's tokenizer behind a small typed door. Token ids are the subject's own: activation sources,
 * simulators and reports read them directly, so a simulator that reads ids must share this vocabulary.
 */
export interface Tokenizer {
  /** Number of ids in the base vocabulary, special tokens included (128,256 for Llama 3). */
  readonly vocabSize: number;
  /** Beginning-of-text id, or null when the tokenizer has none. */
  readonly bosId: number | null;
  /** Ids that end a generation (e.g. `<|eot_id|>`, `<|end_of_text|>`). */
  readonly eosIds: readonly number[];
  /** Special-token strings and their ids; data containing these strings must never be read as control tokens. */
  readonly specialTokens: ReadonlyMap<string, number>;
  /** sha256 over the base vocabulary (id -> token string, in id order): equal fingerprints, equal vocabularies. */
  readonly fingerprint: string;
  /** Text to ids. Special-token strings inside `text` are encoded as plain text, never as control tokens. */
  encode(text: string, options?: { addBos?: boolean }): number[];
  /**
   * Trusted text (a config's fixed prefix, a template's own markup) to ids, with special-token strings encoded
   * as control tokens. Never use it on data.
   */
  encodeWithSpecialTokens(text: string, options?: { addBos?: boolean }): number[];
  /**
   * Renders a conversation with the chat template and encodes it: the template's own special tokens become
   * control tokens, while special-token strings inside message contents stay plain text.
   */
  encodeChat(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean; date?: string }): number[];
  /** Ids to text; invalid UTF-8 (a split multi-byte character) decodes to U+FFFD. */
  decode(ids: readonly number[]): string;
  /** The bytes a single token stands for, so a display can join tokens that are partial UTF-8 sequences. */
  tokenBytes(id: number): Uint8Array;
  /** Whether `id` is a special (control) token. */
  isSpecial(id: number): boolean;
  /**
   * Renders a conversation with the model's chat template. `date` fills templates that ask for today's date
   * (format `26 Jul 2024`), so output is deterministic.
   */
  applyChatTemplate(
    messages: readonly ChatMessage[],
    options?: { addGenerationPrompt?: boolean; date?: string },
  ): string;
}
