/**
 * The HTML report of a finished run (`expgen report`): self-contained files that work offline from `file://`.
 * See README.md beside this file.
 */
export {
  writeReport,
  writeRunReport,
  RUN_REPORT_MAX_FEATURES,
  defaultReportPath,
  chooseLayout,
  featurePagePath,
  SINGLE_FILE_MAX_FEATURES,
  type ReportOptions,
  type ReportResult,
  type ReportLayout,
} from './write-report.js';
export {
  readRunForReport,
  featurePage,
  indexData,
  histogramView,
  type FeaturePage,
  type IndexData,
  type IndexEntry,
  type IndexSign,
  type RunInfo,
  type SignDetail,
  type ExemplarView,
  type HistogramView,
} from './report-data.js';
export { renderPage, CONTENT_SECURITY_POLICY, type PageMeta } from './render-page.js';
export { escapeHtml, jsonForScript, visibleText } from './escape.js';
export { groupTokens, type TokenGroup, type ReportTokenizer } from './token-groups.js';
