/**
 * Stage 2's prompts: from a feature's exemplars to the explainer's messages, and from the explainer's answer to a
 * description. See README.md beside this file for the prompt format and the choices behind it.
 */
export {
  buildDescribePrompt,
  describeRequestOf,
  type BuildDescribePromptInput,
  type DescribePrompt,
  type SkippedPrompt,
  type PromptResult,
  type PromptSettings,
  type PromptQuantiles,
} from './build-prompt.js';
export {
  selectExemplars,
  selectionKey,
  checkSelectionSettings,
  type PromptExemplarRow,
  type SelectionSettings,
  type ExemplarSelection,
  type SkipReason,
} from './selection.js';
export {
  chooseThreshold,
  signQuantiles,
  FALLBACK_FRACTION_OF_STRONGEST,
  type QuantileValue,
  type QuantileTrial,
  type ThresholdChoice,
  type ThresholdRule,
  type ThresholdInput,
} from './threshold.js';
export {
  renderMarkedText,
  escapeDisplayText,
  isMarkedActivation,
  DEFAULT_MARKERS,
  ESCAPE_CHAR,
  GENERIC_CONTROL_PREFIXES,
  LINE_BREAK_DISPLAY,
  type MarkerStrings,
  type RenderOptions,
  type RenderedText,
} from './render.js';
export {
  loadPromptTemplate,
  parsePromptTemplate,
  renderPromptTemplate,
  formatExemplarList,
  defaultPromptTemplatePath,
  TEMPLATE_PLACEHOLDERS,
  type PromptTemplate,
  type TemplatePlaceholder,
  type TemplateRole,
} from './template.js';
