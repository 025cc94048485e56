/**
 * The report page's inline style and script, the same in every file. The script reads the page's data from
 * `<script type="application/json">` elements and builds the page with DOM calls: data only ever reaches the page
 * as `textContent`, attribute values of SVG geometry, or CSSOM colours — never as markup (no innerHTML, no
 * insertAdjacentHTML, no document.write). The Content-Security-Policy allows exactly this script and this style
 * (by hash) and nothing that loads or sends anything.
 *
 * Kept free of backticks and dollar-brace so it can live in a template literal (String.raw keeps its backslashes).
 */

import { SCRIPT_COMMON } from './page/script-common.js';
import { SCRIPT_FEATURE } from './page/script-feature.js';
import { SCRIPT_HISTOGRAM } from './page/script-histogram.js';
import { SCRIPT_INDEX } from './page/script-index.js';
import { SCRIPT_LAYOUTS } from './page/script-layouts.js';

export { PAGE_STYLE } from './page/page-style.js';

/** The page script: one function over the parts, in this order (later parts use the helpers of earlier ones). */
export const PAGE_SCRIPT = [
  '\n(function () {\n',
  SCRIPT_COMMON,
  SCRIPT_INDEX,
  SCRIPT_HISTOGRAM,
  SCRIPT_FEATURE,
  SCRIPT_LAYOUTS,
  '})();\n',
].join('');
