import { renderMarkedTokens, type MarkerStrings, type RenderedText } from '@expgen/plugin-kit';
import { ExpgenError, signedActivation, type Sign, type Tokenizer } from '@expgen/contract';

// The rendering itself (UTF-8 joining, spans, escaping) is @expgen/plugin-kit's `renderMarkedTokens`, shared with
// the judge scorers; stage 2 decides which tokens are marked.
export {
  DEFAULT_MARKERS,
  ESCAPE_CHAR,
  GENERIC_CONTROL_PREFIXES,
  LINE_BREAK_DISPLAY,
  escapeDisplayText,
  type MarkerStrings,
  type RenderedText,
} from '@expgen/plugin-kit';

/** Whether a token is marked: its activation is at or beyond `threshold` in the sign's direction, and of that sign. */
export function isMarkedActivation(sign: Sign, threshold: number, activation: number): boolean {
  if (Number.isNaN(activation) || signedActivation(sign, activation) <= 0) return false;
  return sign === 'positive' ? activation >= threshold : activation <= threshold;
}

export interface RenderOptions {
  readonly tokenizer: Tokenizer;
  readonly sign: Sign;
  /** Raw activation threshold: positive for the positive sign, negative for the negative sign. */
  readonly threshold: number;
  /** First position shown (the row's `countFrom`): the fixed prefix before it is not rendered at all. Default 0. */
  readonly countFrom?: number;
  readonly markers?: MarkerStrings;
}

/**
 * Renders one exemplar with its activating tokens marked: the tokens whose activation is at or beyond the
 * threshold in the sign's direction (`isMarkedActivation`), rendered by `renderMarkedTokens` (see there for the
 * UTF-8 joining, the spans, the line breaks and the escaping).
 */
export function renderMarkedText(
  tokens: ArrayLike<number>,
  activations: ArrayLike<number>,
  options: RenderOptions,
): RenderedText {
  if (tokens.length !== activations.length) {
    throw new ExpgenError(
      `cannot render an exemplar of ${tokens.length} tokens with ${activations.length} activations: the lists must have the same length`,
    );
  }
  const marked: boolean[] = [];
  for (let i = 0; i < activations.length; i++)
    marked.push(isMarkedActivation(options.sign, options.threshold, activations[i]!));
  return renderMarkedTokens(tokens, marked, {
    tokenizer: options.tokenizer,
    ...(options.countFrom !== undefined ? { countFrom: options.countFrom } : {}),
    ...(options.markers ? { markers: options.markers } : {}),
  });
}
