// A part of the report page's script (see page-assets.ts): kept free of backticks and dollar-brace so it can live
// in a template literal (String.raw where it has backslashes to keep), and setting data only as text, never markup.

/** A feature page: statistics, candidates, shaded exemplars per sign. */
export const SCRIPT_FEATURE = String.raw`
  // ---- feature page ---------------------------------------------------------------------------------------

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
    (s.scores || []).forEach(function (v) {
      var counts = v.judgments + ' judgments' + (v.failures ? ', ' + v.failures + ' failed (the judge gave no usable answer)' : '');
      if (v.status === 'scored') row(v.name + ', test split (95% CI)', fmt(v.score) + (v.ci ? ' ' + fmtCi(v.ci) : '') + '; null ' + fmt(v.nullScore), counts);
      else row(v.name + ', test split', v.statusLabel, (v.reason || '') + (v.judgments || v.failures ? ' (' + counts + ')' : ''));
    });
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

  // What the subject's planted truth says of this feature-sign, and whether the chosen description names it.
  function plantedLine(p) {
    var line = el('p', 'planted-line');
    if (p.class === null) {
      line.textContent = 'Planted truth: left random when the model was built (no planted class).';
      return line;
    }
    var classes = meta.run.planted ? meta.run.planted.classes : {};
    line.appendChild(el('span', null, 'Planted truth: '));
    line.appendChild(el('strong', null, p.class));
    line.appendChild(el('span', null, ' \u2014 ' + (classes[p.class] || '') + '. '));
    line.appendChild(el('span', 'planted ' + (p.recovered ? 'recovered' : 'missed'), p.recovered ? 'the description names it \u2713' : p.recovered === false ? 'the description does not name it \u2717' : 'no description to compare'));
    return line;
  }

  function renderSign(page, s) {
    var section = el('section', 'sign sign-' + s.sign);
    section.setAttribute('data-sign', s.sign);
    section.appendChild(el('h3', null, SIGN_NAME[s.sign] + ' sign \u00B7 ' + (s.statusLabel || s.status)));
    section.appendChild(el('p', 'description', s.description !== null ? s.description : '(no description)'));
    if (s.reason) section.appendChild(el('p', 'reason', s.reason));
    if (s.planted) section.appendChild(plantedLine(s.planted));

    var top = el('div', 'top');
    top.appendChild(stats(s));
    if (s.histogram) top.appendChild(histogram(s.histogram, s.sign, s.threshold));
    section.appendChild(top);

    var viewing = s.chosen !== null ? s.chosen : 0;
    var candRows = [];
    if (s.candidates.length) {
      var sampled = s.candidates.reduce(function (n, c) { return n + (c.count || 1); }, 0);
      section.appendChild(el('h4', null, 'Candidates (' + sampled + (sampled > s.candidates.length ? ', ' + s.candidates.length + ' distinct' : '') + '): score on the valid split, best of k chosen there'));
      var table = el('table', 'candidates');
      var head = el('tr');
      // The "sampled" column only when some text was sampled more than once.
      var repeats = sampled > s.candidates.length;
      (repeats ? ['#', 'description', 'sampled', 'valid score', ''] : ['#', 'description', 'valid score', '']).forEach(function (t) { head.appendChild(el('th', t === 'sampled' || t === 'valid score' ? 'num' : null, t)); });
      var thead = el('thead');
      thead.appendChild(head);
      table.appendChild(thead);
      var tbody = el('tbody');
      s.candidates.forEach(function (c, i) {
        var tr = el('tr', i === s.chosen ? 'chosen' : null);
        tr.appendChild(el('td', 'num', String(i + 1)));
        tr.appendChild(el('td', 'cand-desc', c.description));
        if (repeats) {
          var times = el('td', 'num count', c.count > 1 ? '\u00D7' + c.count : '');
          if (c.seeds && c.seeds.length) times.title = (c.count > 1 ? 'sampled ' + c.count + ' times: seeds ' : 'seed ') + c.seeds.join(', ');
          tr.appendChild(times);
        }
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
`;
