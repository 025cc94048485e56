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
export { readRunForReport } from './read-run.js';
export { histogramView } from './histogram-view.js';
export { featurePage, indexData } from './report-data.js';
export type {
  FeaturePage,
  IndexData,
  IndexEntry,
  IndexSign,
  RunInfo,
  SignDetail,
  ExemplarView,
  HistogramView,
} from './report-model.js';
export { renderPage, CONTENT_SECURITY_POLICY, type PageMeta } from './render-page.js';
export { escapeHtml, jsonForScript, visibleText } from './escape.js';
export { groupTokens, type TokenGroup, type ReportTokenizer } from './token-groups.js';
