// A part of the report page's script (see page-assets.ts): kept free of backticks and dollar-brace so it can live
// in a template literal (String.raw where it has backslashes to keep), and setting data only as text, never markup.

/** Helpers every view uses: reading the data blocks, building elements, formatting numbers, colours, the tooltip. */
export const SCRIPT_COMMON = String.raw`
  'use strict';
  var HUE = { positive: [234, 120, 0], negative: [35, 105, 225] };
  var SIGN_NAME = { positive: 'Positive', negative: 'Negative' };

  function readData(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function svgEl(tag, attrs) {
    var node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    return node;
  }
  function isNum(v) { return typeof v === 'number' && isFinite(v); }
  function fmt(v, digits) { return isNum(v) ? v.toFixed(digits === undefined ? 3 : digits) : '\u2014'; }
  function fmtValue(v) { return isNum(v) ? String(Number(v.toPrecision(3))) : '\u2014'; }
  function fmtCi(ci) { return ci && isNum(ci[0]) && isNum(ci[1]) ? '[' + fmt(ci[0]) + ', ' + fmt(ci[1]) + ']' : '\u2014'; }
  // Hrefs come from the generator (feature keys are validated), and are checked again here: relative .html paths only.
  function safeHref(href) {
    return typeof href === 'string' && /^[A-Za-z0-9._~\/-]+\.html$/.test(href) && href.indexOf('//') < 0 && href.charAt(0) !== '/' ? href : null;
  }
  function link(text, href) {
    var a = el('a', null, text);
    if (href) a.setAttribute('href', href);
    return a;
  }
  function signed(sign, v) { return isNum(v) ? Math.max(0, sign === 'negative' ? -v : v) : 0; }
  function shade(sign, strength) {
    var c = HUE[sign] || HUE.positive;
    var a = Math.max(0, Math.min(1, strength)) * 0.85;
    return 'rgba(' + c[0] + ', ' + c[1] + ', ' + c[2] + ', ' + a.toFixed(3) + ')';
  }

  var meta = readData('expgen-meta');
  var sharedStrings = null;
  function stringsOf(page) {
    if (page.strings) return page.strings;
    if (sharedStrings === null) sharedStrings = readData('expgen-strings') || [];
    return sharedStrings;
  }
  var app = document.getElementById('app');
  var tooltip = el('div');
  tooltip.id = 'tooltip';
  tooltip.hidden = true;
  document.body.appendChild(tooltip);
`;
