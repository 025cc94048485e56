// A part of the report page's script (see page-assets.ts): kept free of backticks and dollar-brace so it can live
// in a template literal (String.raw where it has backslashes to keep), and setting data only as text, never markup.

/** Token hover, and which view the page shows: one feature, the index, or both switched by the URL hash. */
export const SCRIPT_LAYOUTS = `
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
`;
