// A part of the report page's script (see page-assets.ts): kept free of backticks and dollar-brace so it can live
// in a template literal (String.raw keeps its backslashes), and setting data only as text, never as markup.

/** The activation histogram of a feature page, as inline SVG. */
export const SCRIPT_HISTOGRAM = String.raw`
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
`;
