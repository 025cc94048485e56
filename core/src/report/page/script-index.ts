// A part of the report page's script (see page-assets.ts): kept free of backticks and dollar-brace so it can live
// in a template literal (String.raw where it has backslashes to keep), and setting data only as text, never markup.

/** The index: the run summary and the sortable, searchable table of features. */
export const SCRIPT_INDEX = String.raw`
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
    item('feature-signs scored', s.states.scored + ' of ' + s.feature_signs);
    item('mean score, test split', fmt(s.mean_score) + ' ' + fmtCi(s.mean_score_ci) + ' over ' + s.mean_score_rows + ' rows');
    item('null baseline', fmt(s.null_baseline) + ' ' + fmtCi(s.null_baseline_ci) + ' over ' + s.null_baseline_rows + ' rows');
    // Every reported scorer, when there are several: its mean and null baseline with the rows behind each, the
    // judgments they rest on, and its entries that are not scored, by status.
    var scorers = Object.keys(s.scores || {});
    if (scorers.length > 1) scorers.forEach(function (name) {
      var v = s.scores[name];
      var unscored = Object.keys(v.states).filter(function (st) { return st !== 'scored' && v.states[st] > 0; })
        .map(function (st) { return stateOf(st).label + ' ' + v.states[st]; });
      item(name + ', test split', fmt(v.mean_score) + ' ' + fmtCi(v.mean_score_ci) + ' over ' + v.mean_score_rows + ' rows (null ' +
        fmt(v.null_baseline) + ' over ' + v.null_baseline_rows + '; ' + v.judgments + ' judgments' +
        (v.failures ? ', ' + v.failures + ' failed' : '') + (unscored.length ? '; ' + unscored.join(', ') : '') + ')');
    });
    if (run.subject) item('subject', run.subject);
    run.components.forEach(function (c) { if (c.kind !== 'subject-model' && c.kind !== 'dataset') item(c.kind, c.name); });
    if (run.configHash) item('config', run.configHash.slice(0, 12));
    if (run.planted) item('planted truth: feature-signs recovered', run.planted.summary);
    return box;
  }

  // Every status with its label, meaning and count: the legend under the run summary, and the cells' words.
  function stateOf(status) {
    var found = null;
    (meta.index.states || []).forEach(function (st) { if (st.status === status) found = st; });
    return found || { status: status, label: String(status), meaning: '', count: 0 };
  }

  function statesLegend(states) {
    var box = el('div', 'states');
    box.id = 'states';
    box.appendChild(el('h2', null, 'Result statuses'));
    var dl = el('dl', 'stats');
    states.forEach(function (st) {
      var dt = el('dt', null, st.label + ' (' + st.count + ')');
      dt.setAttribute('data-status', st.status);
      dl.appendChild(dt);
      dl.appendChild(el('dd', null, st.meaning));
    });
    box.appendChild(dl);
    return box;
  }

  // A feature-sign's cells. A sign without a test score says which status it has, and why, instead of a bare dash:
  // the score cell names the status (its reason on hover); without a description, the description cell says why in
  // a few words (a failure's own reason, which varies, in full), the whole reason on hover.
  var NO_DESCRIPTION = { no_selection_score: 'none chosen', skipped: 'sign never reached' };
  function summaryCells(tr, s) {
    var desc = el('td', 'desc');
    var score = el('td', 'num');
    var ci = el('td', 'num');
    if (!s) {
      var none = el('span', 'status', '\u2014');
      none.title = 'no result row for this sign: the run did not describe it';
      desc.appendChild(none);
    } else {
      var state = stateOf(s.status);
      var reason = s.reason !== null && meta.index.reasons[s.reason] !== undefined ? String(meta.index.reasons[s.reason]) : null;
      if (s.planted) desc.appendChild(plantedTag(s.planted));
      if (s.description !== null) desc.appendChild(el('span', null, s.description));
      else {
        var why = el('span', 'status', NO_DESCRIPTION[s.status] || reason || state.meaning);
        why.title = reason || state.meaning;
        desc.appendChild(why);
      }
      if (isNum(s.score)) score.textContent = fmt(s.score);
      else {
        var label = el('span', 'status', state.label);
        label.setAttribute('data-status', s.status);
        label.title = state.label + ': ' + (reason || state.meaning);
        score.appendChild(label);
      }
      // Every reported scorer under the description, when there are several: its score, or its status (the
      // reason on hover) where it has none.
      if (s.scores && s.scores.length) {
        var line = el('div', 'muted scores');
        s.scores.forEach(function (v, i) {
          if (i > 0) line.appendChild(document.createTextNode(' \u00B7 '));
          if (isNum(v[1])) { line.appendChild(document.createTextNode(v[0] + ' ' + fmt(v[1]))); return; }
          var st = stateOf(v[2]);
          var why = v[3] !== undefined && v[3] !== null && meta.index.reasons[v[3]] !== undefined ? String(meta.index.reasons[v[3]]) : st.meaning;
          var word = el('span', 'status', v[0] + ' ' + st.label);
          word.setAttribute('data-status', v[2]);
          word.title = v[0] + ': ' + st.label + ': ' + why;
          line.appendChild(word);
        });
        desc.appendChild(line);
      }
      ci.textContent = fmtCi(s.ci);
    }
    tr.appendChild(desc);
    tr.appendChild(score);
    tr.appendChild(ci);
  }

  // The planted class of a feature-sign (runs whose subject has a planted truth), before its description.
  function plantedTag(p) {
    var classes = meta.run.planted ? meta.run.planted.classes : {};
    var tag = el('span', 'planted ' + (p.class === null ? 'random' : p.recovered ? 'recovered' : 'missed'));
    tag.textContent = p.class === null ? 'random' : p.class + (p.recovered ? ' \u2713' : p.recovered === false ? ' \u2717' : '');
    tag.title = p.class === null
      ? 'left random when the model was built: no planted class'
      : 'planted: ' + (classes[p.class] || p.class) + (p.recovered ? ' (the description names it)' : p.recovered === false ? ' (the description does not name it)' : '');
    return tag;
  }

  function featureHref(entry) {
    if (meta.layout === 'single') return '#feature=' + encodeURIComponent(entry.key);
    return safeHref(entry.href);
  }

  function buildIndex(container) {
    var run = meta.run;
    container.appendChild(el('h1', null, 'expgen report: ' + run.name));
    container.appendChild(runSummary(run));
    container.appendChild(statesLegend(meta.index.states || []));
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
      var text = [entry.key, entry.positive && entry.positive.description, entry.negative && entry.negative.description, plantedText(entry.positive), plantedText(entry.negative)].filter(Boolean).join('\n').toLowerCase();
      return { tr: tr, entry: entry, order: i, text: text };
    });
    function plantedText(s) { return s && s.planted ? 'planted:' + (s.planted.class === null ? 'random' : s.planted.class) : null; }
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
`;
