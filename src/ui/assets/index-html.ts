// The status page's HTML. Every URL is relative to /ui/ so the view works behind a path prefix.
// Script and style are separate files so the Content-Security-Policy can forbid inline code.

export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>isoproxy · wave</title>
<link rel="stylesheet" href="app.css">
<script src="app.js" defer></script>
</head>
<body>
<header>
  <h1>isoproxy <span class="sub">deployment wave</span></h1>
  <div id="summary" aria-live="polite"></div>
  <div class="right"><span id="conn" class="conn">connecting…</span> <button id="logout" type="button" hidden>Sign out</button></div>
</header>
<main>
  <section id="login" hidden>
    <form id="login-form">
      <h2>Sign in</h2>
      <p>Enter the admin token or the viewer token. It is kept in this browser tab only.</p>
      <label for="token">Token</label>
      <input id="token" name="token" type="password" autocomplete="current-password" required>
      <button type="submit">Sign in</button>
      <p id="login-error" class="error" role="alert"></p>
    </form>
  </section>
  <div id="view" hidden>
    <section class="panel">
      <h2>Throughput <span class="legend"><i class="served"></i>served <i class="upstream"></i>upstream</span> <span id="rates" class="muted"></span></h2>
      <svg id="chart" viewBox="0 0 600 120" preserveAspectRatio="none" role="img" aria-label="served and upstream bytes per second"></svg>
      <div id="chart-axis" class="muted"></div>
    </section>
    <div class="row">
      <section class="panel grow">
        <h2>Bases</h2>
        <table id="bases"><thead><tr><th>URL</th><th>Size</th><th>Validator</th><th>Cached</th><th>Upstream</th><th>State</th></tr></thead><tbody></tbody></table>
      </section>
      <section class="panel">
        <h2>Cache</h2>
        <div id="cache"></div>
      </section>
    </div>
    <section class="panel">
      <h2>Nodes</h2>
      <div class="controls">
        <input id="filter" type="search" placeholder="filter by name, source, base or state" aria-label="filter nodes">
        <span id="page-info" class="muted"></span>
        <button id="prev" type="button" aria-label="previous page">‹</button>
        <button id="next" type="button" aria-label="next page">›</button>
      </div>
      <table id="nodes">
        <thead><tr>
          <th data-sort="name">Node</th><th data-sort="source">Source</th><th data-sort="base">Base</th><th>Edits</th><th>ETag</th>
          <th data-sort="lastAccess">Last access</th><th data-sort="progress">Progress</th><th data-sort="rate">Rate</th><th data-sort="state">State</th>
        </tr></thead>
        <tbody></tbody>
      </table>
    </section>
  </div>
  <pre id="diff-pop" class="diff-pop mono" role="tooltip" hidden></pre>
</main>
</body>
</html>
`;
