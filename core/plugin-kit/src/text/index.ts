/**
 * Text shown to models: UTF-8 facts of byte-level tokens, sequences rendered with marked tokens and escaped data,
 * and chat prompt templates (Markdown, one section per message, named placeholders).
 */
export {
  isUtf8Continuation,
  specialTokenNames,
  utf8SequenceLength,
  validUtf8Continuation,
} from './utf8-tokens.js';
export {
  renderMarkedTokens,
  escapeDisplayText,
  DEFAULT_MARKERS,
  ESCAPE_CHAR,
  GENERIC_CONTROL_PREFIXES,
  LINE_BREAK_DISPLAY,
  type MarkerStrings,
  type MarkedTokensOptions,
  type RenderedText,
} from './marked-text.js';
export {
  parseChatTemplate,
  fillChatTemplate,
  type ChatTemplate,
  type ChatTemplateRole,
  type ChatTemplateSpec,
} from './chat-template.js';
