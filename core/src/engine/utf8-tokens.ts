// The UTF-8 helpers live in @expgen/plugin-kit (judge scorers render exemplars too); re-exported for core's readers.
export {
  isUtf8Continuation,
  specialTokenNames,
  utf8SequenceLength,
  validUtf8Continuation,
} from '@expgen/plugin-kit';
