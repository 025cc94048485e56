// A part of the report page's script (see page-assets.ts): kept free of backticks and dollar-brace so it can live
// in a template literal (String.raw where it has backslashes to keep), and setting data only as text, never markup.

/**
 * The activation histogram of a feature page, as inline SVG: bars of per-sequence extremes, an x axis with a few
 * round ticks, a y axis from 0 to the tallest bar, and the marking threshold the describer's exemplars were shown
 * with, drawn as a dashed line (or named beside the chart when it lies outside the shown range).
 */
export const SCRIPT_HISTOGRAM = String.raw`
  // Round ticks (1, 2 or 5 times a power of ten) over [low, high]: the finest step giving at most seven of them.
  function axisTicks(low, high) {
    var span = high - low;
    if (!(span > 0)) return [low];
    var power = Math.pow(10, Math.floor(Math.log(span / 7) / Math.LN10));
    var step = [1, 2, 5, 10].map(function (m) { return m * power; }).filter(function (x) { return span / x <= 7; })[0];
    var out = [];
    for (var k = Math.ceil(low / step - 1e-9); k * step <= high + step * 1e-9; k++) out.push(Number((k * step).toPrecision(12)));
    return out;
  }

  function histogram(h, sign, threshold) {
    var wrap = el('div', 'hist-wrap');
    wrap.appendChild(el('div', 'muted', 'Distribution of ' + h.label));
    var W = 340, H = 96, left = 34, right = 8, top = 12, axis = 16;
    var plotW = W - left - right;
    var svg = svgEl('svg', { 'class': 'hist', width: W, height: top + H + axis + 4, viewBox: '0 0 ' + W + ' ' + (top + H + axis + 4), role: 'img' });
    var max = Math.max.apply(null, h.counts.concat([1]));
    var n = h.counts.length;
    var span = h.high - h.low;
    function xOf(v) { return left + (span > 0 ? ((v - h.low) / span) * plotW : plotW / 2); }
    var bw = plotW / Math.max(1, n);
    var c = HUE[sign] || HUE.positive;
    h.counts.forEach(function (count, i) {
      var bh = count > 0 ? Math.max(1, (count / max) * H) : 0;
      var rect = svgEl('rect', { x: (left + i * bw).toFixed(2), y: (top + H - bh).toFixed(2), width: Math.max(0.5, bw - 1).toFixed(2), height: bh.toFixed(2), fill: 'rgb(' + c.join(',') + ')' });
      var lo = h.low + (i * span) / n;
      var hi = h.low + ((i + 1) * span) / n;
      var title = svgEl('title', {});
      title.textContent = '[' + fmtValue(lo) + ', ' + fmtValue(hi) + '): ' + count + ' sequences';
      rect.appendChild(title);
      svg.appendChild(rect);
    });
    // Axes: x with round ticks, y from 0 to the tallest bar.
    svg.appendChild(svgEl('line', { 'class': 'axis', x1: left, y1: top + H + 0.5, x2: W - right, y2: top + H + 0.5, stroke: '#999' }));
    svg.appendChild(svgEl('line', { 'class': 'axis', x1: left - 0.5, y1: top, x2: left - 0.5, y2: top + H, stroke: '#999' }));
    axisTicks(h.low, h.high).forEach(function (v) {
      var x = xOf(v);
      svg.appendChild(svgEl('line', { 'class': 'tick', x1: x.toFixed(2), y1: top + H, x2: x.toFixed(2), y2: top + H + 4, stroke: '#999' }));
      var label = svgEl('text', { 'class': 'tick-label', x: x.toFixed(2), y: top + H + axis, 'text-anchor': 'middle' });
      label.textContent = fmtValue(v);
      svg.appendChild(label);
    });
    [[0, top + H], [max, top + 8]].forEach(function (t) {
      var label = svgEl('text', { 'class': 'count-label', x: left - 4, y: t[1], 'text-anchor': 'end' });
      label.textContent = String(t[0]);
      svg.appendChild(label);
    });
    if (isNum(threshold)) {
      if (threshold >= h.low && threshold <= h.high) {
        var x = xOf(threshold);
        var line = svgEl('line', { 'class': 'threshold', x1: x.toFixed(2), y1: top - 2, x2: x.toFixed(2), y2: top + H, stroke: '#1d1d1f', 'stroke-dasharray': '3 2' });
        var lineTitle = svgEl('title', {});
        lineTitle.textContent = 'marking threshold ' + fmtValue(threshold) + ': tokens beyond it are marked in the describer\u2019s exemplars';
        line.appendChild(lineTitle);
        svg.appendChild(line);
        var name = svgEl('text', { 'class': 'threshold-label', x: x.toFixed(2), y: top - 3, 'text-anchor': x > W / 2 ? 'end' : 'start' });
        name.textContent = 'threshold ' + fmtValue(threshold);
        svg.appendChild(name);
      } else {
        wrap.appendChild(el('div', 'muted threshold-note', 'marking threshold ' + fmtValue(threshold) + ' lies ' + (threshold > h.high ? 'above' : 'below') + ' the range shown'));
      }
    }
    wrap.appendChild(svg);
    if (h.below || h.above) wrap.appendChild(el('div', 'muted', (h.below ? h.below + ' below the range' : '') + (h.below && h.above ? ', ' : '') + (h.above ? h.above + ' above it' : '')));
    return wrap;
  }
`;
