// The status page's script: plain ES2020 for any current browser, no library, no build step.
// It keeps the token in sessionStorage (never in a URL), reads /ui/api/events with fetch() and an
// Authorization header (EventSource cannot send one) and falls back to polling /ui/api/status
// when the stream breaks. The DOM is built with createElement and textContent only, so node names
// and URLs are never parsed as HTML; widths are set through the CSSOM, which the page's
// Content-Security-Policy allows where inline style attributes are not.
//
// Hovering (or focusing) a node's edits fetches its diff (api/nodes/<name>/diff, with the token in
// the Authorization header) once per node and ETag and shows it as text in a popover that outlives
// the table's re-renders; moving the pointer anywhere else hides it.
//
// Kept as a string (String.raw, so its backslashes reach the browser as written), with the panels
// from app-js-panels.ts; the unit test parses it, so a syntax error fails a test rather than a browser.

import { PANELS_JS } from './app-js-panels.js';

export const APP_JS = String.raw`'use strict';
(function () {
  var TOKEN_KEY = 'isoproxy.statusToken';
  var STATES = ['error', 'stalled', 'reading', 'mounting', 'idle', 'expired', 'never'];
  var DESC_FIRST = { rate: true, lastAccess: true, progress: true };
  var q = { sort: 'name', order: 'asc', filter: '', state: '', offset: 0, limit: 50 };
  var streamCtl = null;
  var pollTimer = null;
  var retryTimer = null;
  var diffs = {};
  var last = null;

  function $(id) { return document.getElementById(id); }
  function token() { try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; } }
  function forgetToken() { try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing kept */ } }
  function authHeaders() { var t = token(); return t ? { Authorization: 'Bearer ' + t } : {}; }

  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') el.textContent = String(v);
      else if (k === 'class') el.className = v;
      else el.setAttribute(k, String(v));
    }
    if (children) for (var i = 0; i < children.length; i++) {
      var c = children[i];
      if (c === null || c === undefined) continue;
      el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return el;
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return '–';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
  }
  function fmtRate(n) { return n > 0 ? fmtBytes(n) + '/s' : '–'; }
  function fmtPct(x) { return x === null || x === undefined ? '–' : (Math.floor(x * 1000) / 10).toFixed(1) + '%'; }
  function fmtAge(iso, nowIso) {
    if (!iso) return 'never';
    var s = Math.max(0, (Date.parse(nowIso) - Date.parse(iso)) / 1000);
    if (s < 2) return 'now';
    if (s < 120) return Math.round(s) + 's ago';
    if (s < 7200) return Math.round(s / 60) + 'm ago';
    if (s < 172800) return Math.round(s / 3600) + 'h ago';
    return Math.round(s / 86400) + 'd ago';
  }

  function bar(fraction, label, opts) {
    var f = Math.max(0, Math.min(1, fraction || 0));
    var el = h('div', { class: 'bar' + (opts && opts.done ? ' done' : ''), 'data-fraction': f.toFixed(4), title: opts && opts.title });
    if (opts && opts.segments) {
      for (var i = 0; i < opts.segments.length; i++) {
        var seg = h('div', { class: 'seg' });
        seg.style.left = (opts.segments[i][0] * 100) + '%';
        seg.style.width = Math.max(0.3, (opts.segments[i][1] - opts.segments[i][0]) * 100) + '%';
        el.appendChild(seg);
      }
    } else {
      var fill = h('div', { class: 'fill' });
      fill.style.width = (f * 100) + '%';
      el.appendChild(fill);
    }
    el.appendChild(h('div', { class: 'label', text: label }));
    return el;
  }

  function qs() {
    var p = new URLSearchParams();
    p.set('sort', q.sort); p.set('order', q.order);
    if (q.filter) p.set('filter', q.filter);
    if (q.state) p.set('state', q.state);
    p.set('offset', String(q.offset)); p.set('limit', String(q.limit));
    return p.toString();
  }

  function setConn(text, cls) { var c = $('conn'); c.textContent = text; c.className = 'conn ' + (cls || ''); }

  function showLogin(message) {
    stopLive();
    hideDiff();
    $('view').hidden = true;
    $('logout').hidden = true;
    $('login').hidden = false;
    $('summary').textContent = '';
    $('login-error').textContent = message || '';
    setConn('signed out', 'down');
    $('token').focus();
  }

  function showView() {
    $('login').hidden = true;
    $('view').hidden = false;
    $('logout').hidden = !token();
  }

  function stopLive() {
    if (streamCtl) { streamCtl.abort(); streamCtl = null; }
    if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
    if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
  }

  // One snapshot by plain fetch: the first load, the login check and the fallback when streaming fails.
  function poll(then) {
    return fetch('api/status?' + qs(), { headers: authHeaders(), cache: 'no-store' }).then(function (res) {
      if (res.status === 401) { var had = !!token(); forgetToken(); showLogin(had ? 'The token was refused.' : ''); return false; }
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.json().then(function (s) { showView(); render(s); return true; });
    }).then(function (ok) { if (ok && then) then(); return ok; });
  }

  function pollLoop() {
    setConn('polling', 'down');
    pollTimer = setTimeout(function () {
      poll().then(function (ok) { if (ok) pollLoop(); }, function () { setConn('offline', 'down'); pollLoop(); });
    }, 2000);
  }

  function fallback() {
    if (streamCtl) { streamCtl.abort(); streamCtl = null; }
    if (!pollTimer) pollLoop();
    if (!retryTimer) retryTimer = setTimeout(function () { retryTimer = null; startStream(); }, 5000);
  }

  function startStream() {
    stopLive();
    var ctl = new AbortController();
    streamCtl = ctl;
    fetch('api/events?' + qs(), { headers: authHeaders(), cache: 'no-store', signal: ctl.signal }).then(function (res) {
      if (res.status === 401) { forgetToken(); showLogin('The token was refused.'); return; }
      if (!res.ok || !res.body) { fallback(); return; }
      setConn('live', 'live');
      var reader = res.body.getReader();
      var decoder = new TextDecoder();
      var buf = '';
      function pump() {
        return reader.read().then(function (r) {
          if (r.done) { if (streamCtl === ctl) fallback(); return; }
          buf += decoder.decode(r.value, { stream: true });
          var frames = buf.split(/\r?\n\r?\n/);
          buf = frames.pop();
          for (var i = 0; i < frames.length; i++) handleFrame(frames[i]);
          return pump();
        });
      }
      return pump();
    }).catch(function () { if (streamCtl === ctl) fallback(); });
  }

  function handleFrame(frame) {
    var event = 'message';
    var data = [];
    var lines = frame.split(/\r?\n/);
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i];
      if (line.indexOf('event:') === 0) event = line.slice(6).trim();
      else if (line.indexOf('data:') === 0) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (event === 'status' && data.length) { showView(); render(JSON.parse(data.join('\n'))); }
  }

  function refresh() { startStream(); }

  function render(s) {
    last = s;
    renderSummary(s);
    renderChart(s);
    renderBases(s);
    renderCache(s);
    renderNodes(s);
  }

${PANELS_JS}
  function progressCell(n) {
    var cells = [];
    var done = n.complete;
    var detail = fmtBytes(n.distinctBytes) + ' distinct bytes served' + (n.coarsenedBytes ? ' (up to ' + fmtBytes(n.coarsenedBytes) + ' of it estimated)' : '');
    if (n.bootBytes) cells.push(bar(n.bootProgress, (done ? '✓ ' : '') + 'boot ' + fmtPct(n.bootProgress), { done: done, title: detail + ' of ~' + fmtBytes(n.bootBytes) + ' a boot reads' }));
    var imgLabel = 'image ' + (n.imageProgress === null ? fmtBytes(n.distinctBytes) : fmtPct(n.imageProgress));
    var img = bar(n.imageProgress, (done && !n.bootBytes ? '✓ ' : '') + imgLabel, { done: done && !n.bootBytes, segments: n.coverage, title: detail + (n.imageSize ? ' of a ' + fmtBytes(n.imageSize) + ' image' : '') });
    var p = n.bootBytes ? n.bootProgress : n.imageProgress;
    img.setAttribute('data-progress', p === null ? '' : String(p));
    cells.push(img);
    return h('td', null, [h('div', { class: 'progress' }, cells)]);
  }

  // The diff popover: one element outside the tables, so re-rendering rows never drops it.
  var MAX_DIFFS = 200;
  var diffCount = 0;
  var showing = null;
  function hideDiff() { showing = null; var pop = $('diff-pop'); pop.hidden = true; pop.removeAttribute('data-node'); pop.removeAttribute('data-loaded'); }
  function showDiff(td, n) {
    var key = n.name + '|' + (n.etag || '');
    var pop = $('diff-pop');
    // The row was re-rendered under the pointer: the popover already shows (or awaits) this diff.
    if (showing === key && !pop.hidden) return;
    showing = key;
    pop.setAttribute('data-node', n.name);
    pop.className = 'diff-pop mono';
    pop.textContent = diffs[key] || 'loading the diff of ' + n.name + '…';
    var r = td.getBoundingClientRect();
    pop.style.left = Math.max(4, r.left + window.scrollX) + 'px';
    pop.style.top = (r.bottom + window.scrollY + 4) + 'px';
    pop.hidden = false;
    if (diffs[key]) { pop.setAttribute('data-loaded', 'true'); return; }
    pop.removeAttribute('data-loaded');
    fetch('api/nodes/' + encodeURIComponent(n.name) + '/diff', { headers: authHeaders(), cache: 'no-store' }).then(function (res) {
      if (res.ok) return res.text().then(function (text) {
        text = text || '(no boot config changes)';
        // Kept only under an ETag: without one, new edits would not show as a new key.
        if (n.etag) {
          if (diffCount >= MAX_DIFFS) { diffs = {}; diffCount = 0; }
          if (!diffs[key]) diffCount++;
          diffs[key] = text;
        }
        return { text: text };
      });
      if (res.status === 401) { forgetToken(); showLogin('The token was refused.'); return null; }
      return res.json().then(function (b) { return b && b.error ? b.error : { code: 'HTTP_' + res.status, message: '' }; }, function () {
        return { code: 'HTTP_' + res.status, message: '' };
      }).then(function (e) { return { error: 'no diff: ' + e.code + (e.message ? ' ' + e.message : '') }; });
    }).then(function (got) {
      if (!got || showing !== key) return;
      pop.textContent = got.text !== undefined ? got.text : got.error;
      if (got.error) pop.className = 'diff-pop mono error';
      pop.setAttribute('data-loaded', 'true');
    }, function () { if (showing === key) pop.textContent = 'the diff could not be fetched'; });
  }

  function editsCell(n) {
    var td = h('td', { class: 'edits', text: n.edits || '–', tabindex: n.edits ? '0' : null });
    if (n.edits) {
      td.addEventListener('mouseenter', function () { showDiff(td, n); });
      td.addEventListener('focus', function () { showDiff(td, n); });
      td.addEventListener('blur', hideDiff);
    }
    return td;
  }

  function renderNodes(s) {
    var body = $('nodes').tBodies[0];
    body.textContent = '';
    var items = s.nodes.items;
    for (var i = 0; i < items.length; i++) {
      var n = items[i];
      var stateCell = h('td', null, [h('span', { class: 'badge ' + n.state, text: n.state })]);
      if (n.complete) stateCell.appendChild(h('span', { class: 'badge complete', text: 'complete' }));
      if (n.error) stateCell.appendChild(h('span', { class: 'error mono', text: ' ' + n.error.status + (n.error.code ? ' ' + n.error.code : '') }));
      body.appendChild(h('tr', { 'data-node': n.name, 'data-state': n.state, 'data-complete': n.complete ? 'true' : 'false' }, [
        h('td', { class: 'mono', text: n.name }),
        h('td', { text: n.source || '–' }),
        h('td', { class: 'mono', text: n.base ? n.base.replace(/^.*\//, '') : '–', title: n.base }),
        editsCell(n),
        h('td', { class: 'mono', text: n.etag ? (n.etag.length > 18 ? n.etag.slice(0, 17) + '…' : n.etag) : '–', title: n.etag }),
        h('td', { text: fmtAge(n.lastAccess, s.now), title: n.lastAccess }),
        progressCell(n),
        h('td', { class: 'num', text: fmtRate(n.rateBytesPerSecond) }),
        stateCell,
      ]));
    }
    if (!items.length) body.appendChild(h('tr', null, [h('td', { colspan: 9, class: 'muted', text: s.nodes.total ? 'no nodes on this page' : 'no nodes match' })]));
    var from = s.nodes.total ? s.nodes.offset + 1 : 0;
    $('page-info').textContent = from + '–' + (s.nodes.offset + items.length) + ' of ' + s.nodes.total;
    $('prev').disabled = s.nodes.offset <= 0;
    $('next').disabled = s.nodes.offset + items.length >= s.nodes.total;
    var ths = $('nodes').querySelectorAll('th[data-sort]');
    for (var j = 0; j < ths.length; j++) {
      var th = ths[j];
      th.className = th.getAttribute('data-sort') === s.nodes.sort ? 'sorted-' + s.nodes.order : '';
    }
  }

  function init() {
    $('login-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var input = $('token');
      var t = input.value.trim();
      input.value = '';
      if (!t) return;
      try { sessionStorage.setItem(TOKEN_KEY, t); } catch (e) { /* private mode: this page only */ }
      poll(startStream).catch(function () { showLogin('The server did not answer.'); });
    });
    $('logout').addEventListener('click', function () {
      forgetToken();
      showLogin('');
    });
    // The pointer left the edits cell (maybe re-rendered meanwhile) and the popover: hide it.
    document.addEventListener('mouseover', function (ev) {
      var t = ev.target;
      if (!showing || (t && t.closest && t.closest('td.edits, #diff-pop'))) return;
      hideDiff();
    });
    document.addEventListener('keydown', function (ev) { if (ev.key === 'Escape') hideDiff(); });
    var timer = null;
    $('filter').addEventListener('input', function (ev) {
      clearTimeout(timer);
      timer = setTimeout(function () { q.filter = ev.target.value; q.offset = 0; refresh(); }, 250);
    });
    $('prev').addEventListener('click', function () { q.offset = Math.max(0, q.offset - q.limit); refresh(); });
    $('next').addEventListener('click', function () { if (last && q.offset + q.limit < last.nodes.total) { q.offset += q.limit; refresh(); } });
    var ths = $('nodes').querySelectorAll('th[data-sort]');
    for (var i = 0; i < ths.length; i++) ths[i].addEventListener('click', function (ev) {
      var key = ev.currentTarget.getAttribute('data-sort');
      if (q.sort === key) q.order = q.order === 'asc' ? 'desc' : 'asc';
      else { q.sort = key; q.order = DESC_FIRST[key] ? 'desc' : 'asc'; }
      q.offset = 0;
      refresh();
    });
    poll(startStream).catch(function () { setConn('offline', 'down'); fallback(); });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
`;
