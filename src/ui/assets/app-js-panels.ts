// The status page's panels other than the node table: the summary line, the throughput chart,
// the bases and the cache. A fragment of the page's script (app-js.ts puts it inside its
// function, where $, h, bar and the formatters are); kept apart so each file stays readable.

// biome-ignore lint/complexity/noUselessStringRaw: raw, so a backslash added to the script later reaches its interpreter as written
export const PANELS_JS = String.raw`  function renderSummary(s) {
    var box = $('summary');
    box.textContent = '';
    box.appendChild(h('span', { class: 'muted', text: s.totals.nodes + ' nodes' }));
    for (var i = 0; i < STATES.length; i++) {
      var st = STATES[i];
      var n = s.totals.byState[st] || 0;
      if (!n && q.state !== st) continue;
      var b = h('span', { class: 'badge ' + st + (q.state === st ? ' active' : ''), 'data-state-count': st, role: 'button', tabindex: '0', text: st + ' ' + n });
      b.addEventListener('click', (function (name) { return function () { q.state = q.state === name ? '' : name; q.offset = 0; refresh(); }; })(st));
      box.appendChild(b);
    }
  }

  function svg(tag, attrs) {
    var el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (var k in attrs) el.setAttribute(k, String(attrs[k]));
    return el;
  }

  function renderChart(s) {
    var chart = $('chart');
    var t = s.throughput;
    var n = t.served.length;
    var max = 1;
    for (var i = 0; i < n; i++) max = Math.max(max, t.served[i], t.upstream[i] || 0);
    var W = 600, H = 120;
    function points(series) {
      var pts = [];
      for (var i = 0; i < series.length; i++) pts.push((n > 1 ? (i / (n - 1)) * W : 0).toFixed(1) + ',' + (H - 4 - (series[i] / max) * (H - 8)).toFixed(1));
      return pts.join(' ');
    }
    chart.textContent = '';
    chart.appendChild(svg('line', { class: 'grid', x1: 0, x2: W, y1: H / 2, y2: H / 2 }));
    chart.appendChild(svg('polyline', { class: 'upstream', points: points(t.upstream) }));
    chart.appendChild(svg('polyline', { class: 'served', points: points(t.served) }));
    var axis = $('chart-axis');
    axis.textContent = '';
    axis.appendChild(h('span', { text: '−' + Math.round(n / 60) + ' min' }));
    axis.appendChild(h('span', { text: 'peak ' + fmtRate(max) }));
    axis.appendChild(h('span', { text: 'now' }));
    $('rates').textContent = 'served ' + fmtRate(s.totals.servedBytesPerSecond) + ', upstream ' + fmtRate(s.totals.upstreamBytesPerSecond) + ', ' + s.totals.openTransfers + ' open transfers';
  }

  function renderBases(s) {
    var body = $('bases').tBodies[0];
    body.textContent = '';
    if (!s.bases.length) { body.appendChild(h('tr', null, [h('td', { colspan: 6, class: 'muted', text: 'no base opened yet' })])); return; }
    for (var i = 0; i < s.bases.length; i++) {
      var b = s.bases[i];
      var frac = b.size ? (b.cachedBytes || 0) / b.size : 0;
      var cached = b.cachedBytes === undefined ? h('span', { class: 'muted', text: '–' })
        : bar(frac, fmtBytes(b.cachedBytes) + ' · ' + fmtPct(frac), { title: 'bytes of this base in the block cache, against its size' });
      if (b.cachedBytes !== undefined) { cached.classList.add('base-bar'); cached.setAttribute('data-cached', String(b.cachedBytes)); }
      body.appendChild(h('tr', { 'data-base': b.url, 'data-state': b.state, 'data-code': b.code }, [
        h('td', { class: 'wrap mono', text: b.url }),
        h('td', { class: 'num', text: fmtBytes(b.size) }),
        h('td', { class: 'mono', text: b.validator || '–' }),
        h('td', null, [cached]),
        h('td', { class: 'num upstream', 'data-upstream': b.upstreamBytes, text: b.upstreamBytes === undefined ? '–' : fmtBytes(b.upstreamBytes), title: 'bytes fetched from upstream for this base' }),
        h('td', { class: 'state' }, [h('span', { class: 'badge ' + b.state, text: b.state }), b.code ? h('span', { class: 'error mono', text: ' ' + b.code }) : null]),
      ]));
    }
  }

  function renderCache(s) {
    var box = $('cache');
    box.textContent = '';
    var c = s.cache;
    if (!c) { box.appendChild(h('p', { class: 'muted', text: 'no cache information' })); return; }
    var frac = c.budgetBytes ? c.usedBytes / c.budgetBytes : 0;
    var b = bar(frac, fmtBytes(c.usedBytes) + ' of ' + fmtBytes(c.budgetBytes), { title: 'cache used against its budget' });
    b.id = 'cache-bar';
    b.style.width = '240px';
    box.appendChild(b);
    function row(k, v, cls) { return [h('dt', { text: k }), h('dd', { class: cls, text: v })]; }
    var dl = h('dl', null, [].concat(
      row('budget', fmtBytes(c.budgetBytes)),
      row('used', fmtBytes(c.usedBytes)),
      row('hit ratio', c.hitRatio === null ? '–' : fmtPct(c.hitRatio)),
      row('hits / misses', c.hits + ' / ' + c.misses),
      row('evictions', String(c.evictions)),
      row('degraded', c.degraded ? 'yes: misses are not written to disk' : 'no', c.degraded ? 'error' : '')
    ));
    box.appendChild(dl);
  }
`;
