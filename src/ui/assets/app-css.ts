// The status page's style: system fonts, no images, readable on a laptop in a machine room.

export const APP_CSS = `
:root { --bg: #f6f7f9; --panel: #fff; --fg: #1d232b; --muted: #66707c; --line: #dde1e6; --accent: #2f6fdf; --ok: #2e9d57;
  --warn: #d98a00; --bad: #d23b3b; --idle: #8a94a0; --mount: #7a5cd6; --served: #2f6fdf; --upstream: #e0771b; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; align-items: center; gap: 16px; padding: 8px 16px; background: #1d232b; color: #fff; flex-wrap: wrap; }
header h1 { font-size: 16px; margin: 0; }
header .sub { font-weight: normal; color: #aab3bd; }
header .right { margin-left: auto; }
header button { background: transparent; color: #fff; border: 1px solid #556; border-radius: 4px; padding: 2px 8px; cursor: pointer; }
main { padding: 12px 16px; }
h2 { font-size: 14px; margin: 0 0 8px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; margin-bottom: 12px; }
.row { display: flex; gap: 12px; align-items: flex-start; flex-wrap: wrap; }
.row > .panel { min-width: 260px; }
.grow { flex: 1; }
.muted { color: var(--muted); font-weight: normal; }
.error { color: var(--bad); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.wrap { white-space: normal; word-break: break-all; }
th[data-sort] { cursor: pointer; user-select: none; }
th[data-sort]:hover { color: var(--accent); }
th.sorted-asc::after { content: " ▲"; font-size: 10px; }
th.sorted-desc::after { content: " ▼"; font-size: 10px; }
td.edits { max-width: 260px; overflow: hidden; text-overflow: ellipsis; cursor: help; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.bar { position: relative; width: 140px; height: 14px; background: #e8ebef; border-radius: 3px; overflow: hidden; display: inline-block; vertical-align: middle; }
.bar > .fill { position: absolute; left: 0; top: 0; bottom: 0; background: var(--accent); }
.bar > .seg { position: absolute; top: 0; bottom: 0; background: rgba(47, 111, 223, 0.45); }
.bar.done > .seg { background: rgba(46, 157, 87, 0.5); }
.bar.done > .fill { background: var(--ok); }
.bar > .label { position: absolute; inset: 0; font-size: 10px; line-height: 14px; text-align: center; color: #111; }
.progress { display: flex; gap: 6px; }
.progress .bar { width: 120px; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; color: #fff; background: var(--idle); }
.badge.reading { background: var(--accent); }
.badge.mounting { background: var(--mount); }
.badge.stalled { background: var(--warn); }
.badge.error { background: var(--bad); }
.badge.expired { background: #555; }
.badge.never { background: #b9c0c8; color: #222; }
.badge.ready { background: var(--ok); }
.badge.indexing { background: var(--mount); }
.badge.failed { background: var(--bad); }
.badge.complete { background: var(--ok); }
#summary { display: flex; gap: 6px; flex-wrap: wrap; }
#summary .badge { cursor: pointer; }
#summary .badge.active { outline: 2px solid #fff; }
.conn { font-size: 12px; color: #aab3bd; }
.conn.live { color: #7fe0a0; }
.conn.down { color: #ffb0b0; }
.controls { display: flex; gap: 8px; align-items: center; margin-bottom: 6px; }
.controls input { flex: 0 1 320px; padding: 4px 6px; border: 1px solid var(--line); border-radius: 4px; }
.controls button { padding: 2px 10px; }
#chart { width: 100%; height: 120px; background: #fbfcfd; border: 1px solid var(--line); }
#chart .served { fill: none; stroke: var(--served); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
#chart .upstream { fill: none; stroke: var(--upstream); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
#chart .grid { stroke: var(--line); stroke-width: 1; vector-effect: non-scaling-stroke; }
#chart-axis { display: flex; justify-content: space-between; font-size: 11px; }
.legend { font-weight: normal; font-size: 12px; margin-left: 8px; }
.legend i { display: inline-block; width: 12px; height: 3px; vertical-align: middle; margin: 0 4px 0 8px; }
.legend i.served { background: var(--served); }
.legend i.upstream { background: var(--upstream); }
#cache dl { display: grid; grid-template-columns: auto auto; gap: 2px 12px; margin: 8px 0 0; }
#cache dt { color: var(--muted); }
#cache dd { margin: 0; font-variant-numeric: tabular-nums; }
#login { display: flex; justify-content: center; padding-top: 60px; }
#login form { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 20px; width: 360px; display: flex; flex-direction: column; gap: 8px; }
#login input { padding: 6px; border: 1px solid var(--line); border-radius: 4px; }
#login button { padding: 6px; background: var(--accent); color: #fff; border: 0; border-radius: 4px; cursor: pointer; }
.diff-pop { position: absolute; z-index: 10; margin: 0; max-width: min(900px, 90vw); max-height: 60vh; overflow: auto; padding: 8px 10px;
  background: #fffef6; color: var(--fg); border: 1px solid #c9c3a0; border-radius: 4px; box-shadow: 0 4px 16px rgba(0, 0, 0, 0.18); white-space: pre; }
.diff-pop.error { color: var(--bad); }
[hidden] { display: none !important; }
`;
