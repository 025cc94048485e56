/**
 * The report page's inline style and script, the same in every file. The script reads the page's data from
 * `<script type="application/json">` elements and builds the page with DOM calls: data only ever reaches the page
 * as `textContent`, attribute values of SVG geometry, or CSSOM colours — never as markup (no innerHTML, no
 * insertAdjacentHTML, no document.write). The Content-Security-Policy allows exactly this script and this style
 * (by hash) and nothing that loads or sends anything.
 *
 * Kept free of backticks and dollar-brace so it can live in a template literal (String.raw keeps its backslashes).
 */

export const PAGE_STYLE = String.raw`
:root { --fg: #1d1d1f; --muted: #6b6b70; --line: #dcdce0; --bg: #fff; --head: #f5f5f7; --link: #0a58ca; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 24px 48px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 18px; margin: 12px 0 8px; }
h3 { font-size: 16px; margin: 0 0 6px; }
h4 { font-size: 14px; margin: 14px 0 6px; }
a { color: var(--link); }
.muted, .reason { color: var(--muted); }
.run { display: flex; flex-wrap: wrap; gap: 4px 20px; margin: 0 0 12px; color: var(--muted); }
.run strong { color: var(--fg); font-weight: 600; }
.controls { display: flex; gap: 12px; align-items: center; margin: 8px 0; position: sticky; top: 0; background: var(--bg); padding: 6px 0; z-index: 2; }
#search { width: min(480px, 60vw); padding: 6px 8px; font: inherit; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; }
table.index { width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: var(--head); }
table.index thead { position: sticky; top: 44px; z-index: 1; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.desc { max-width: 36em; }
th button { white-space: nowrap; font: inherit; font-weight: 600; border: 0; background: none; padding: 0; cursor: pointer; color: var(--fg); }
th button::after { content: " \2195"; color: var(--muted); }
th[aria-sort="ascending"] button::after { content: " \25B2"; color: var(--fg); }
th[aria-sort="descending"] button::after { content: " \25BC"; color: var(--fg); }
.status { font-style: italic; color: var(--muted); }
.description, .desc, .cand-desc, .reason { unicode-bidi: isolate; overflow-wrap: anywhere; }
.description { font-size: 16px; margin: 4px 0 8px; }
.feature-nav { display: flex; gap: 16px; margin-bottom: 4px; }
section.sign { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; margin: 12px 0; }
.stats { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; margin: 6px 0; }
.stats dt { color: var(--muted); }
.stats dd { margin: 0; font-variant-numeric: tabular-nums; }
.top { display: flex; flex-wrap: wrap; gap: 8px 32px; align-items: flex-start; }
table.candidates tr.chosen td { font-weight: 600; }
table.candidates tr.viewing { background: #eef4ff; }
table.candidates tbody tr { cursor: pointer; }
.exemplar { margin: 6px 0 10px; }
.ex-meta { color: var(--muted); font-size: 12px; }
.ex-row { display: grid; grid-template-columns: 6.5em 1fr; align-items: baseline; }
.ex-label { color: var(--muted); font-size: 12px; }
.tokens { font: 13px/1.9 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre-wrap; overflow-wrap: anywhere; }
.tok { unicode-bidi: isolate; border-radius: 2px; padding: 1px 0; }
.tok.prefix { color: #a0a0a6; }
.tok.joined { text-decoration: underline dotted #a0a0a6; }
.tok:hover { outline: 1px solid #555; }
.legend { display: inline-flex; gap: 6px; align-items: center; font-size: 12px; color: var(--muted); }
.swatch { display: inline-block; width: 90px; height: 10px; border: 1px solid var(--line); }
svg.hist { display: block; }
svg.hist text { font-size: 10px; fill: var(--muted); }
details > summary { cursor: pointer; margin: 10px 0 4px; font-weight: 600; }
#tooltip { position: fixed; pointer-events: none; background: #222; color: #fff; font: 12px/1.4 ui-monospace, monospace; padding: 6px 8px; border-radius: 4px; white-space: pre; z-index: 10; max-width: 60vw; overflow: hidden; unicode-bidi: isolate; }
[hidden] { display: none !important; }
`;

export const PAGE_SCRIPT = String.raw`
(function () {
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

  // ---- index ----------------------------------------------------------------------------------------------

  function runSummary(run) {
    var box = el('div', 'run');
    function item(label, value) {
      var span = el('span', null, label + ': ');
      span.appendChild(el('strong', null, value));
      box.appendChild(span);
    }
    var s = run.summary;
    item('features', String(run.features));
    item('feature-signs scored', s.scored + ' of ' + s.features + (s.failed ? ' (' + s.failed + ' failed' + (s.skipped ? ', ' + s.skipped + ' skipped' : '') + ')' : ''));
    item('mean score, test split', fmt(s.meanScore) + ' ' + fmtCi(s.meanScoreCi));
    item('null baseline', fmt(s.nullBaseline) + ' ' + fmtCi(s.nullBaselineCi));
    if (run.subject) item('subject', run.subject);
    run.components.forEach(function (c) { if (c.kind !== 'subject-model' && c.kind !== 'dataset') item(c.kind, c.name); });
    if (run.configHash) item('config', run.configHash.slice(0, 12));
    return box;
  }

  function summaryCells(tr, s) {
    var desc = el('td', 'desc');
    var score = el('td', 'num');
    var ci = el('td', 'num');
    if (!s) {
      desc.appendChild(el('span', 'status', '\u2014'));
    } else {
      if (s.description !== null) desc.appendChild(el('span', null, s.description));
      else {
        var status = el('span', 'status', s.status);
        if (s.reason !== null && meta.index.reasons[s.reason] !== undefined) status.title = String(meta.index.reasons[s.reason]);
        desc.appendChild(status);
      }
      score.textContent = fmt(s.score);
      if (s.score === null && s.status === 'scored') score.title = 'undefined on the test split (constant predictions or activations)';
      ci.textContent = fmtCi(s.ci);
    }
    tr.appendChild(desc);
    tr.appendChild(score);
    tr.appendChild(ci);
  }

  function featureHref(entry) {
    if (meta.layout === 'single') return '#feature=' + encodeURIComponent(entry.key);
    return safeHref(entry.href);
  }

  function buildIndex(container) {
    var run = meta.run;
    container.appendChild(el('h1', null, 'expgen report: ' + run.name));
    container.appendChild(runSummary(run));
    var controls = el('div', 'controls');
    var search = el('input');
    search.type = 'search';
    search.id = 'search';
    search.placeholder = 'Search descriptions\u2026';
    search.setAttribute('aria-label', 'Search descriptions');
    search.autocomplete = 'off';
    var count = el('span', 'muted');
    count.id = 'count';
    controls.appendChild(search);
    controls.appendChild(count);
    container.appendChild(controls);

    var table = el('table', 'index');
    table.id = 'index';
    var thead = el('thead');
    var top = el('tr');
    var featureTh = el('th');
    featureTh.rowSpan = 2;
    top.appendChild(featureTh);
    ['positive', 'negative'].forEach(function (sign) {
      var th = el('th', null, SIGN_NAME[sign] + ' sign');
      th.colSpan = 3;
      top.appendChild(th);
    });
    var second = el('tr');
    var sortable = {};
    function sortHeader(th, label, key) {
      var b = el('button', null, label);
      b.type = 'button';
      b.setAttribute('data-sort', key);
      th.appendChild(b);
      th.setAttribute('aria-sort', 'none');
      sortable[key] = th;
      b.addEventListener('click', function () { sortBy(key); });
    }
    sortHeader(featureTh, 'Feature', 'feature');
    ['positive', 'negative'].forEach(function (sign) {
      second.appendChild(el('th', null, 'best description'));
      var th = el('th', 'num');
      sortHeader(th, 'score', sign);
      second.appendChild(th);
      second.appendChild(el('th', 'num', '95% CI'));
    });
    thead.appendChild(top);
    thead.appendChild(second);
    table.appendChild(thead);
    var tbody = el('tbody');
    table.appendChild(tbody);
    container.appendChild(table);

    var rows = meta.index.entries.map(function (entry, i) {
      var tr = el('tr');
      tr.setAttribute('data-feature', entry.key);
      var keyCell = el('td');
      var href = featureHref(entry);
      keyCell.appendChild(link(entry.key, href));
      tr.appendChild(keyCell);
      summaryCells(tr, entry.positive);
      summaryCells(tr, entry.negative);
      var text = [entry.key, entry.positive && entry.positive.description, entry.negative && entry.negative.description].filter(Boolean).join('\n').toLowerCase();
      return { tr: tr, entry: entry, order: i, text: text };
    });
    var fragment = document.createDocumentFragment();
    rows.forEach(function (r) { fragment.appendChild(r.tr); });
    tbody.appendChild(fragment);

    var state = { key: 'feature', dir: 1 };
    function scoreOf(r, sign) { var s = r.entry[sign]; return s && isNum(s.score) ? s.score : null; }
    function sortBy(key) {
      state.dir = state.key === key ? -state.dir : key === 'feature' ? 1 : -1;
      state.key = key;
      var sorted = rows.slice().sort(function (a, b) {
        if (key === 'feature') return (a.order - b.order) * state.dir;
        var x = scoreOf(a, key);
        var y = scoreOf(b, key);
        if (x === null && y === null) return a.order - b.order;
        if (x === null) return 1;
        if (y === null) return -1;
        return x === y ? a.order - b.order : (x - y) * state.dir;
      });
      var f = document.createDocumentFragment();
      sorted.forEach(function (r) { f.appendChild(r.tr); });
      tbody.appendChild(f);
      Object.keys(sortable).forEach(function (k) {
        sortable[k].setAttribute('aria-sort', k === key ? (state.dir > 0 ? 'ascending' : 'descending') : 'none');
      });
    }
    sortable.feature.setAttribute('aria-sort', 'ascending');

    function filter() {
      var terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (r) {
        var match = terms.every(function (t) { return r.text.indexOf(t) >= 0; });
        r.tr.hidden = !match;
        if (match) shown++;
      });
      count.textContent = shown === rows.length ? rows.length + ' features' : shown + ' of ' + rows.length + ' features';
    }
    search.addEventListener('input', filter);
    filter();
  }

  // ---- feature page ---------------------------------------------------------------------------------------

  function histogram(h, sign) {
    var wrap = el('div', 'hist-wrap');
    wrap.appendChild(el('div', 'muted', 'Distribution of ' + h.label));
    var W = 320, H = 90, pad = 14;
    var svg = svgEl('svg', { 'class': 'hist', width: W, height: H + pad + 2, viewBox: '0 0 ' + W + ' ' + (H + pad + 2), role: 'img' });
    var max = Math.max.apply(null, h.counts.concat([1]));
    var n = h.counts.length;
    var bw = W / Math.max(1, n);
    var c = HUE[sign] || HUE.positive;
    h.counts.forEach(function (count, i) {
      var bh = count > 0 ? Math.max(1, (count / max) * H) : 0;
      var rect = svgEl('rect', { x: (i * bw).toFixed(2), y: (H - bh).toFixed(2), width: Math.max(0.5, bw - 1).toFixed(2), height: bh.toFixed(2), fill: 'rgb(' + c.join(',') + ')' });
      var lo = h.low + (i * (h.high - h.low)) / n;
      var hi = h.low + ((i + 1) * (h.high - h.low)) / n;
      var title = svgEl('title', {});
      title.textContent = '[' + fmtValue(lo) + ', ' + fmtValue(hi) + '): ' + count;
      rect.appendChild(title);
      svg.appendChild(rect);
    });
    svg.appendChild(svgEl('line', { x1: 0, y1: H + 0.5, x2: W, y2: H + 0.5, stroke: '#999' }));
    var left = svgEl('text', { x: 0, y: H + pad });
    left.textContent = fmtValue(h.low);
    var right = svgEl('text', { x: W, y: H + pad, 'text-anchor': 'end' });
    right.textContent = fmtValue(h.high);
    svg.appendChild(left);
    svg.appendChild(right);
    wrap.appendChild(svg);
    if (h.below || h.above) wrap.appendChild(el('div', 'muted', (h.below ? h.below + ' below the range' : '') + (h.below && h.above ? ', ' : '') + (h.above ? h.above + ' above it' : '')));
    return wrap;
  }

  function stats(s) {
    var dl = el('dl', 'stats');
    function row(label, value, title) {
      var dt = el('dt', null, label);
      var dd = el('dd', null, value);
      if (title) dd.title = title;
      dl.appendChild(dt);
      dl.appendChild(dd);
    }
    row('score, test split (95% CI)', fmt(s.score) + (s.ci ? ' ' + fmtCi(s.ci) : ''), 'the chosen description on data never used to choose it');
    row('score, valid split (chosen there)', fmt(s.selectionScore));
    row('Pearson r / R\u00B2', fmt(s.pearson) + ' / ' + fmt(s.rSquared));
    row('absolute deviation explained', fmt(s.absoluteDeviationExplained));
    row('pooled score (valid + test)', fmt(s.pooledScore));
    row('null score (another feature\u2019s description)', fmt(s.nullScore));
    if (s.threshold !== null) row('marking threshold', fmtValue(s.threshold) + (s.thresholdRule ? ' (' + s.thresholdRule + ')' : ''));
    return dl;
  }

  function maxOf(lists, sign, raw) {
    var m = 0;
    lists.forEach(function (values) {
      if (!values) return;
      values.forEach(function (v) { var x = raw ? (isNum(v) ? v : 0) : signed(sign, v); if (x > m) m = x; });
    });
    return m;
  }

  // One exemplar: the true activations and, beside them, a simulation, over the same display groups.
  function exemplar(page, s, ex, predictions, trueScale, simScale, simLabel) {
    var box = el('div', 'exemplar');
    var metaText = ex.split + ' \u00B7 ' + ex.stratum + (ex.stratum === 'random' ? '' : ' #' + (ex.rank + 1)) + ' \u00B7 ' + ex.dataset + (ex.document !== null ? ' / ' + ex.document : '') + (ex.sequence !== null ? ' \u00B7 sequence ' + ex.sequence : '');
    box.appendChild(el('div', 'ex-meta', metaText));
    var groups = [];
    var start = 0;
    ex.text.forEach(function (sid, g) {
      var size = ex.sizes ? ex.sizes[g] : 1;
      groups.push({ text: String(stringsOf(page)[sid]), start: start, size: size });
      start += size;
    });
    function line(label, values, scale, kind) {
      var row = el('div', 'ex-row');
      row.appendChild(el('span', 'ex-label', label));
      var tokens = el('div', 'tokens');
      tokens.setAttribute('data-kind', kind);
      groups.forEach(function (g) {
        var span = el('span', 'tok', g.text === '' ? '\u2205' : g.text);
        var strength = 0;
        var prefix = g.start + g.size <= ex.countFrom;
        for (var t = g.start; t < g.start + g.size; t++) {
          var v = values ? values[t] : null;
          var x = kind === 'true' ? signed(s.sign, v) : (isNum(v) ? Math.max(0, v) : 0);
          if (x > strength) strength = x;
        }
        if (prefix) span.className += ' prefix';
        if (g.size > 1) span.className += ' joined';
        var level = !prefix && scale > 0 ? strength / scale : 0;
        span.setAttribute('data-level', level.toFixed(3));
        if (level > 0) span.style.backgroundColor = shade(s.sign, level);
        var lines = ['text: "' + g.text + '"' + (g.size > 1 ? '  (' + g.size + ' tokens joined: one character split over them)' : '')];
        for (var u = g.start; u < g.start + g.size; u++) {
          var tv = ex.activations[u];
          var pv = predictions ? predictions[u] : null;
          lines.push((g.size > 1 ? 'token ' + u + ': ' : '') + 'true ' + fmtValue(tv) + '   simulated ' + (predictions ? fmtValue(pv) : '\u2014') + (u < ex.countFrom ? '   (prefix: not counted)' : ''));
        }
        span.title = lines.join('\n');
        tokens.appendChild(span);
      });
      row.appendChild(tokens);
      return row;
    }
    box.appendChild(line('true', ex.activations, trueScale, 'true'));
    box.appendChild(line(simLabel, predictions, simScale, 'simulated'));
    return box;
  }

  function legend(sign, text) {
    var span = el('span', 'legend');
    var sw = el('span', 'swatch');
    var c = HUE[sign] || HUE.positive;
    sw.style.backgroundImage = 'linear-gradient(to right, rgba(' + c.join(',') + ',0), rgba(' + c.join(',') + ',0.85))';
    span.appendChild(el('span', null, '0'));
    span.appendChild(sw);
    span.appendChild(el('span', null, text));
    return span;
  }

  function renderSign(page, s) {
    var section = el('section', 'sign sign-' + s.sign);
    section.setAttribute('data-sign', s.sign);
    section.appendChild(el('h3', null, SIGN_NAME[s.sign] + ' sign \u00B7 ' + s.status));
    section.appendChild(el('p', 'description', s.description !== null ? s.description : '(no description)'));
    if (s.reason) section.appendChild(el('p', 'reason', s.reason));

    var top = el('div', 'top');
    top.appendChild(stats(s));
    if (s.histogram) top.appendChild(histogram(s.histogram, s.sign));
    section.appendChild(top);

    var viewing = s.chosen !== null ? s.chosen : 0;
    var candRows = [];
    if (s.candidates.length) {
      section.appendChild(el('h4', null, 'Candidates (' + s.candidates.length + '): score on the valid split, best of k chosen there'));
      var table = el('table', 'candidates');
      var head = el('tr');
      ['#', 'description', 'valid score', ''].forEach(function (t, i) { head.appendChild(el('th', i === 2 ? 'num' : null, t)); });
      var thead = el('thead');
      thead.appendChild(head);
      table.appendChild(thead);
      var tbody = el('tbody');
      s.candidates.forEach(function (c, i) {
        var tr = el('tr', i === s.chosen ? 'chosen' : null);
        tr.appendChild(el('td', 'num', String(i + 1)));
        tr.appendChild(el('td', 'cand-desc', c.description));
        tr.appendChild(el('td', 'num', fmt(c.selectionScore)));
        tr.appendChild(el('td', null, i === s.chosen ? 'chosen' : ''));
        tr.title = 'show this candidate\u2019s simulation of the valid-split exemplars';
        tr.addEventListener('click', function () { showSelection(i, true); });
        candRows.push(tr);
        tbody.appendChild(tr);
      });
      table.appendChild(tbody);
      section.appendChild(table);
    }
    if (s.failures.length) {
      section.appendChild(el('h4', null, 'Failed candidates (' + s.failures.length + ')'));
      var ul = el('ul');
      s.failures.forEach(function (f) { ul.appendChild(el('li', 'reason', 'seed ' + f.seed + ': ' + f.reason + (f.detail ? ' \u2014 ' + f.detail : ''))); });
      section.appendChild(ul);
    }

    var trueScale = maxOf(s.report.concat(s.selection).map(function (e) { return e.activations.filter(function (_, t) { return t >= e.countFrom; }); }), s.sign, false);
    if (s.report.length) {
      var h = el('h4', null, 'Test-split exemplars: true activation and the chosen description\u2019s simulation ');
      section.appendChild(h);
      section.appendChild(legend(s.sign, 'max: true ' + fmtValue(s.sign === 'negative' ? -trueScale : trueScale)));
      var reportBox = el('div', 'exemplars report');
      var simScale = maxOf(s.reportPredictions || [], s.sign, true);
      s.report.forEach(function (ex, i) {
        reportBox.appendChild(exemplar(page, s, ex, s.reportPredictions ? s.reportPredictions[i] : null, trueScale, simScale, 'simulated'));
      });
      section.appendChild(reportBox);
    }
    var selectionBox = null;
    var summaryText = null;
    if (s.selection.length) {
      var details = el('details', 'selection');
      if (!s.report.length) details.open = true;
      summaryText = el('summary');
      details.appendChild(summaryText);
      selectionBox = el('div', 'exemplars');
      details.appendChild(selectionBox);
      section.appendChild(details);
    }
    function showSelection(c, open) {
      if (!selectionBox) return;
      viewing = c;
      candRows.forEach(function (tr, i) { tr.classList.toggle('viewing', i === c); });
      var predictions = s.selectionPredictions[c] || null;
      summaryText.textContent = 'Valid-split exemplars (' + s.selection.length + '): true activation and the simulation of candidate #' + (c + 1) + (c === s.chosen ? ' (chosen)' : '');
      selectionBox.textContent = '';
      var simScale = maxOf(predictions || [], s.sign, true);
      s.selection.forEach(function (ex, i) {
        selectionBox.appendChild(exemplar(page, s, ex, predictions ? predictions[i] : null, trueScale, simScale, 'candidate #' + (c + 1)));
      });
      if (open) selectionBox.parentNode.open = true;
    }
    showSelection(viewing, false);
    return section;
  }

  function renderFeature(container, page, nav) {
    var bar = el('nav', 'feature-nav');
    bar.appendChild(link('\u2190 all features', nav.index));
    if (nav.prev) bar.appendChild(link('\u2039 ' + nav.prev.key, nav.prev.href));
    if (nav.next) bar.appendChild(link(nav.next.key + ' \u203A', nav.next.href));
    container.appendChild(bar);
    container.appendChild(el('h2', null, 'Feature ' + page.key));
    if (!page.signs.length) container.appendChild(el('p', 'muted', 'No results for this feature.'));
    page.signs.forEach(function (s) { container.appendChild(renderSign(page, s)); });
    document.title = page.key + ' \u2014 expgen report: ' + meta.run.name;
  }

  // Hover: the token's values in a box that follows the pointer (the title attribute holds the same text).
  document.addEventListener('mouseover', function (event) {
    var t = event.target;
    if (t && t.classList && t.classList.contains('tok')) {
      tooltip.textContent = t.title;
      tooltip.hidden = false;
    }
  });
  document.addEventListener('mouseout', function (event) {
    var t = event.target;
    if (t && t.classList && t.classList.contains('tok')) tooltip.hidden = true;
  });
  document.addEventListener('mousemove', function (event) {
    if (tooltip.hidden) return;
    tooltip.style.left = Math.min(event.clientX + 14, window.innerWidth - tooltip.offsetWidth - 4) + 'px';
    tooltip.style.top = (event.clientY + 18) + 'px';
  });

  // ---- layouts --------------------------------------------------------------------------------------------

  if (meta.layout === 'feature') {
    var page = readData('expgen-feature');
    renderFeature(app, page, { index: safeHref(meta.nav.index), prev: navLink(meta.nav.prev), next: navLink(meta.nav.next) });
  } else if (meta.layout === 'index') {
    buildIndex(app);
  } else {
    var indexView = el('div');
    indexView.id = 'index-view';
    var featureView = el('div');
    featureView.id = 'feature-view';
    app.appendChild(indexView);
    app.appendChild(featureView);
    buildIndex(indexView);
    var positions = {};
    meta.index.entries.forEach(function (entry, i) { positions[entry.key] = i; });
    var indexScroll = 0;
    var route = function () {
      var match = /^#feature=(.*)$/.exec(location.hash);
      var key = match ? safeDecode(match[1]) : null;
      var i = key !== null && Object.prototype.hasOwnProperty.call(positions, key) ? positions[key] : -1;
      if (i < 0) {
        featureView.textContent = '';
        featureView.hidden = true;
        indexView.hidden = false;
        document.title = 'expgen report: ' + meta.run.name;
        window.scrollTo(0, indexScroll);
        return;
      }
      if (!indexView.hidden) indexScroll = window.scrollY;
      indexView.hidden = true;
      featureView.hidden = false;
      featureView.textContent = '';
      var prev = meta.index.entries[i - 1];
      var next = meta.index.entries[i + 1];
      var hash = function (e) { return e ? { key: e.key, href: '#feature=' + encodeURIComponent(e.key) } : null; };
      renderFeature(featureView, readData('expgen-f' + i), { index: '#', prev: hash(prev), next: hash(next) });
      window.scrollTo(0, 0);
    };
    window.addEventListener('hashchange', route);
    route();
  }

  function navLink(n) { return n && safeHref(n.href) ? { key: n.key, href: safeHref(n.href) } : null; }
  function safeDecode(s) { try { return decodeURIComponent(s); } catch (e) { return null; } }
})();
`;
