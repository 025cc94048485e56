/**
 * The explainer's answer is parsed by the one parser every describer shares (`parseDescription` in @expgen/plugin-kit):
 * the text after the LAST `[DESCRIPTION]:` marker, with `empty`, `malformed` and `refusal` failures.
 */
export { parseDescription, DESCRIPTION_MARKER, type ParsedDescription as ParsedAnswer } from '@expgen/plugin-kit';
