// The dashboard page, served at /dashboard. It is one self-contained HTML document (no build
// step, no external assets, no framework) so the controller serves it from memory and an
// operator needs nothing but a browser. The admin token comes from the URL fragment
// (`/dashboard#token=...`, which browsers never send) or a form, lives in sessionStorage, and
// goes only in `Authorization` headers: the page follows /v1/topology/stream with fetch (an
// EventSource cannot send headers) and polls /v1/plans and /v1/status.
//
// Every server-provided string reaches the DOM through textContent or setAttribute, never
// innerHTML. `String.raw` keeps the script's backslashes as written; the script itself must not
// contain a backtick or a dollar-brace.
export const dashboardHtml = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Switchboard controller</title>
<style>
  :root {
    --bg: #f4f5f7; --card: #fff; --ink: #1d2330; --muted: #6b7280; --line: #e3e6eb;
    --up: #137333; --up-bg: #e6f4ea; --down: #b3261e; --down-bg: #fce8e6;
    --warn: #8a5300; --warn-bg: #fef3d6; --accent: #2457c5;
  }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
    background: var(--bg); color: var(--ink); }
  header { background: #1d2330; color: #fff; padding: 12px 20px; display: flex; flex-wrap: wrap;
    align-items: center; gap: 8px 24px; }
  header h1 { font-size: 17px; margin: 0 12px 0 0; font-weight: 600; }
  header .item { display: flex; flex-direction: column; }
  header .label { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: #aab2c0; }
  header .value { font-variant-numeric: tabular-nums; }
  header .spacer { flex: 1; }
  main { padding: 16px 20px 32px; display: grid; gap: 16px;
    grid-template-columns: repeat(auto-fit, minmax(min(100%, 560px), 1fr)); }
  main[hidden] { display: none; }
  section { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
    padding: 12px 16px 16px; min-width: 0; }
  section.wide { grid-column: 1 / -1; }
  section h2 { font-size: 15px; margin: 0 0 8px; display: flex; align-items: center; gap: 8px; }
  h3 { font-size: 13px; margin: 14px 0 4px; color: var(--muted); font-weight: 600; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  .scroll { overflow-x: auto; }
  table.fixed { table-layout: fixed; }
  th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
    vertical-align: top; overflow-wrap: break-word; }
  th { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted);
    font-weight: 600; }
  tr:last-child td { border-bottom: 0; }
  .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
    font-weight: 600; white-space: nowrap; }
  .badge::before { content: ""; display: inline-block; width: 7px; height: 7px;
    border-radius: 50%; margin-right: 5px; background: currentColor; vertical-align: 1px; }
  .ok { color: var(--up); background: var(--up-bg); }
  .bad { color: var(--down); background: var(--down-bg); }
  .warn { color: var(--warn); background: var(--warn-bg); }
  .idle { color: var(--muted); background: #eceef2; }
  .muted { color: var(--muted); }
  .empty { color: var(--muted); font-style: italic; padding: 4px 0; }
  .nowrap { white-space: nowrap; }
  .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
  .stats { display: flex; flex-wrap: wrap; gap: 8px 28px; margin-bottom: 8px; }
  .stat .n { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
  .stat .l { font-size: 12px; color: var(--muted); }
  .stat .n.stale { color: var(--down); }
  .bar { height: 12px; background: #eceef2; border-radius: 6px; overflow: hidden; margin: 6px 0; }
  .bar > div { height: 100%; background: var(--accent); transition: width .4s; }
  #banner { margin: 16px 20px 0; padding: 12px 16px; border-radius: 8px; }
  #banner[hidden], #login[hidden] { display: none; }
  #login { margin: 16px 20px 0; background: var(--card); border: 1px solid var(--line);
    border-radius: 8px; padding: 16px; max-width: 560px; }
  #login label { display: block; font-weight: 600; margin-bottom: 6px; }
  #login input { width: 100%; padding: 7px 9px; font: inherit; border: 1px solid #c5cad3;
    border-radius: 6px; margin-bottom: 8px; }
  #login button { font: inherit; padding: 6px 14px; border-radius: 6px; border: 0;
    background: var(--accent); color: #fff; cursor: pointer; }
  #login p { margin: 8px 0 0; color: var(--muted); font-size: 12.5px; }
</style>
</head>
<body>
<header>
  <h1>Switchboard controller</h1>
  <div class="item"><span class="label">This controller</span>
    <span class="value" data-testid="controller">–</span></div>
  <div class="item"><span class="label">Leader</span>
    <span class="value" data-testid="leader">–</span></div>
  <div class="item"><span class="label">Topology version</span>
    <span class="value" data-testid="topology-version">–</span></div>
  <div class="item"><span class="label">Updated</span>
    <span class="value" data-testid="updated-at">–</span></div>
  <div class="spacer"></div>
  <span class="badge idle" data-testid="connection">connecting</span>
</header>
<div id="banner" role="alert" data-testid="banner" hidden></div>
<form id="login" data-testid="token-form" hidden>
  <label for="token">Admin token</label>
  <input id="token" name="token" type="password" autocomplete="off" data-testid="token-input">
  <button type="submit" data-testid="token-submit">Open dashboard</button>
  <p>The token stays in this tab (sessionStorage) and is sent only in the Authorization header.
  You can also open <span class="mono">/dashboard#token=&lt;admin token&gt;</span>.</p>
</form>
<main id="main" hidden>
  <section class="wide"><h2>Nodes</h2><div id="nodes" data-testid="nodes"></div></section>
  <section><h2>SQL</h2><div id="sql" data-testid="sql"></div></section>
  <section><h2>Redis Cluster <span id="kv-state"></span></h2><div id="kv" data-testid="kv"></div></section>
  <section><h2>Broker and search</h2><div id="endpoints" data-testid="endpoints"></div></section>
  <section><h2>Leases</h2><div id="leases" data-testid="leases"></div></section>
  <section class="wide"><h2>Plans</h2><div id="plans" data-testid="plans"></div></section>
</main>
<script>
'use strict';
(function () {
  var STORAGE_KEY = 'switchboard.dashboard.token';
  var ROLE_NAMES = {
    controller: 'Controllers', queue: 'Queue', worker: 'Workers', 'sip-edge': 'SIP edges',
    pbx: 'PBX', sql: 'SQL', kv: 'Distributed Database', search: 'Search'
  };
  var ROLE_ORDER = ['controller', 'sip-edge', 'pbx', 'worker', 'queue', 'kv', 'sql', 'search'];

  var state = { token: null, generation: 0, topology: null, status: null, plans: null,
    controller: null, lastEvent: 0, abort: null, timers: [] };

  // ---- DOM helpers: text only, never markup from data ------------------------------------------
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      for (var key in attrs) {
        if (attrs[key] !== undefined && attrs[key] !== null) node.setAttribute(key, String(attrs[key]));
      }
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }
  function append(node, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
  function $(id) { return document.getElementById(id); }
  function setText(testid, text) {
    document.querySelector('[data-testid="' + testid + '"]').textContent = text;
  }
  function badge(kind, text, attrs) {
    var a = attrs || {};
    a['class'] = 'badge ' + kind;
    return el('span', a, text);
  }
  function table(headers, rows, attrs) {
    if (rows.length === 0) return el('div', { 'class': 'empty' }, 'none');
    return el('div', { 'class': 'scroll' }, el('table', attrs || {},
      el('thead', null, el('tr', null, headers.map(function (h) { return el('th', null, h); }))),
      el('tbody', null, rows)));
  }
  // Element.replaceChildren would print null as "null": this skips empty parts like append does.
  function fill(node) {
    node.replaceChildren();
    for (var i = 1; i < arguments.length; i++) append(node, arguments[i]);
  }
  // Redis Cluster node ids are 40 hex digits: show a prefix, the whole id on hover.
  function shortId(id) {
    return el('span', { 'class': 'mono', title: id }, id.length > 12 ? id.slice(0, 12) + '…' : id);
  }
  function empty(text) { return el('div', { 'class': 'empty' }, text); }

  // ---- formatting -------------------------------------------------------------------------------
  function age(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '–';
    if (ms < 0) ms = 0;
    if (ms < 10000) return (ms / 1000).toFixed(1) + ' s ago';
    if (ms < 120000) return Math.round(ms / 1000) + ' s ago';
    if (ms < 7200000) return Math.round(ms / 60000) + ' min ago';
    return Math.round(ms / 3600000) + ' h ago';
  }
  function since(iso) {
    var t = Date.parse(iso);
    return isNaN(t) ? '–' : age(Date.now() - t);
  }
  function clock(iso) {
    var t = new Date(iso);
    return isNaN(t.getTime()) ? '–' : t.toLocaleTimeString();
  }
  function bytes(n) {
    if (typeof n !== 'number') return '–';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
  }
  function num(n) { return typeof n === 'number' ? n.toLocaleString() : '–'; }
  function thread(running) {
    if (running === true) return badge('ok', 'running');
    if (running === false) return badge('bad', 'stopped');
    return '–';
  }
  function statusKind(status) {
    return status === 'up' ? 'ok' : status === 'draining' ? 'warn' : 'bad';
  }
  function loadText(load) {
    if (!load) return '–';
    var parts = [];
    if (typeof load.activeCalls === 'number') parts.push(load.activeCalls + ' calls');
    if (typeof load.activeJobs === 'number') parts.push(load.activeJobs + ' jobs');
    return parts.length ? parts.join(', ') : '–';
  }

  // ---- rendering --------------------------------------------------------------------------------
  function render() {
    renderHeader();
    renderNodes();
    renderSql();
    renderKv();
    renderEndpoints();
    renderLeases();
    renderPlans();
  }

  function renderHeader() {
    var c = state.controller;
    setText('controller', c ? c.nodeId + (c.leader ? ' (leader)' : ' (follower)') : '–');
    var leader = (state.topology && state.topology.leader) || (state.status && state.status.leader);
    setText('leader', leader ? leader.nodeId + ' · fence ' + leader.fence
      : state.topology ? 'none' : '–');
    setText('topology-version', state.topology ? String(state.topology.version) : '–');
    setText('updated-at', state.topology
      ? clock(state.topology.updatedAt) + ' (' + since(state.topology.updatedAt) + ')' : '–');
  }

  function leaseOf(id) {
    return state.status && state.status.leases ? state.status.leases[id] : undefined;
  }

  function nodeRow(node) {
    var lease = leaseOf(node.id);
    return el('tr', { 'data-testid': 'node-' + node.id, 'data-status': node.status },
      el('td', { 'class': 'mono' }, node.id),
      el('td', null, badge(statusKind(node.status), node.status, { 'data-testid': 'node-status' })),
      el('td', { 'class': 'mono' }, node.address),
      el('td', null, node.version),
      el('td', null, node.roles.join(', ')),
      el('td', null, lease ? age(Date.now() - lease.at) : '–'),
      el('td', null, loadText(lease && lease.load)));
  }

  function nodeTable(nodes) {
    return table(['Node', 'Status', 'Address', 'Version', 'Roles', 'Last heartbeat', 'Load'],
      nodes.map(nodeRow), { 'class': 'fixed' });
  }

  function renderNodes() {
    var box = $('nodes');
    var nodes = state.topology ? state.topology.nodes.slice() : [];
    nodes.sort(function (a, b) { return a.id < b.id ? -1 : a.id > b.id ? 1 : 0; });
    if (nodes.length === 0) { fill(box, empty('No node has registered.')); return; }
    // A node with several roles is listed once, under its first role.
    var groups = {};
    nodes.forEach(function (n) {
      var role = n.roles[0] || 'other';
      (groups[role] = groups[role] || []).push(n);
    });
    var roles = Object.keys(groups).sort(function (a, b) {
      var ia = ROLE_ORDER.indexOf(a), ib = ROLE_ORDER.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || (a < b ? -1 : 1);
    });
    var parts = roles.map(function (role) {
      var list = groups[role];
      var up = list.filter(function (n) { return n.status === 'up'; }).length;
      var heading = el('h3', null, (ROLE_NAMES[role] || role) + ' — ' + up + ' of ' + list.length + ' up');
      if (role !== 'kv') {
        return el('div', { 'data-testid': 'role-' + role }, heading, nodeTable(list));
      }
      var byAg = {};
      list.forEach(function (n) {
        var ag = n.ag || '(no AG)';
        (byAg[ag] = byAg[ag] || []).push(n);
      });
      return el('div', { 'data-testid': 'role-kv' }, heading,
        Object.keys(byAg).sort().map(function (ag) {
          return el('div', { 'data-testid': 'ag-' + ag },
            el('h3', null, 'AG ' + ag), nodeTable(byAg[ag]));
        }));
    });
    fill(box, parts);
  }

  function renderSql() {
    var box = $('sql');
    var probes = state.status && state.status.probes && state.status.probes.sql;
    var topo = state.topology && state.topology.sql;
    var primary = (probes && probes.primary) || (topo && topo.primary) || null;
    var replicas = (probes && probes.replicas) || (topo && topo.replicas) || [];
    var rows = [];
    function health(e) {
      return e.healthy ? badge('ok', 'healthy') : badge('bad', 'unhealthy');
    }
    if (primary) {
      rows.push(el('tr', { 'data-testid': 'sql-primary', 'data-healthy': String(primary.healthy) },
        el('td', null, 'primary'), el('td', { 'class': 'mono' }, primary.address),
        el('td', null, health(primary)), el('td', null, '–'), el('td', null, '–'),
        el('td', null, '–'), el('td', null, primary.reason || '')));
    }
    replicas.forEach(function (r) {
      var lag = typeof r.lagMs === 'number' ? num(r.lagMs) + ' ms' : '–';
      if (typeof r.secondsBehind === 'number') lag += ' (' + r.secondsBehind + ' s behind)';
      rows.push(el('tr', { 'data-testid': 'sql-replica-' + r.address, 'data-healthy': String(r.healthy) },
        el('td', null, 'replica'), el('td', { 'class': 'mono' }, r.address),
        el('td', null, health(r)), el('td', { 'class': 'nowrap' }, lag), el('td', null, thread(r.ioRunning)),
        el('td', null, thread(r.sqlRunning)), el('td', null, r.reason || r.lastError || '')));
    });
    fill(box, rows.length === 0 ? empty('No SQL server is known yet.')
      : table(['Role', 'Address', 'Health', 'Lag', 'IO thread', 'SQL thread', 'Reason'], rows));
  }

  function renderKv() {
    var box = $('kv');
    var probes = state.status && state.status.probes && state.status.probes.kv;
    var kv = probes || (state.topology && state.topology.kv);
    var stateBox = $('kv-state');
    if (!kv) { fill(stateBox); fill(box, empty('No probe yet.')); return; }
    fill(stateBox, badge(kv.state === 'ok' ? 'ok' : kv.state === 'fail' ? 'bad' : 'idle',
      'cluster ' + kv.state, { 'data-testid': 'kv-state' }));
    var rows = kv.groups.map(function (g) {
      return el('tr', { 'data-testid': 'kv-group-' + g.id },
        el('td', null, shortId(g.id)),
        el('td', { 'class': 'mono' }, g.primary),
        el('td', { 'class': 'mono' }, g.replicas.length ? g.replicas.join(', ') : '–'),
        el('td', null, num(g.slots)),
        el('td', null, bytes(g.memoryUsedBytes)),
        el('td', null, num(g.keys)));
    });
    var findings = (probes && probes.findings) || [];
    fill(box,
      table(['AG', 'Primary', 'Replicas', 'Slots', 'Memory', 'Keys'], rows),
      findings.length ? el('h3', null, 'Findings') : null,
      findings.map(function (f) {
        return el('div', { 'data-testid': 'kv-finding' },
          badge(f.severity === 'error' ? 'bad' : 'warn', f.severity), ' ',
          el('span', { 'class': 'mono' }, f.code), ' ', f.message);
      }),
      probes && probes.error ? el('div', { 'class': 'muted' }, probes.error) : null);
  }

  function renderEndpoints() {
    var box = $('endpoints');
    var source = (state.status && state.status.probes) || null;
    var bus = source ? source.bus : state.topology ? state.topology.bus.endpoints : [];
    var search = source ? source.search : state.topology ? state.topology.search.endpoints : [];
    function rows(kind, list) {
      return list.map(function (e) {
        return el('tr', { 'data-testid': kind + '-endpoint-' + e.address, 'data-reachable': String(e.reachable) },
          el('td', null, kind === 'bus' ? 'broker' : 'search'),
          el('td', { 'class': 'mono' }, e.address),
          el('td', null, e.reachable ? badge('ok', 'reachable') : badge('bad', 'unreachable')));
      });
    }
    var all = rows('bus', bus || []).concat(rows('search', search || []));
    fill(box, all.length === 0 ? empty('No broker or search endpoint is configured.')
      : table(['Kind', 'Address', 'State'], all));
  }

  function renderLeases() {
    var box = $('leases');
    var nodes = state.topology ? state.topology.nodes : [];
    var up = nodes.filter(function (n) { return n.status === 'up'; }).length;
    var leases = (state.status && state.status.leases) || {};
    var ids = Object.keys(leases).sort(function (a, b) { return leases[a].at - leases[b].at; });
    var now = Date.now();
    var statusAge = state.status ? now - Date.parse(state.status.at) : NaN;
    fill(box,
      el('div', { 'class': 'stats' },
        el('div', { 'class': 'stat' }, el('div', { 'class': 'n', 'data-testid': 'nodes-up' }, String(up)),
          el('div', { 'class': 'l' }, 'of ' + nodes.length + ' nodes up')),
        el('div', { 'class': 'stat' }, el('div', { 'class': 'n' }, String(ids.length)),
          el('div', { 'class': 'l' }, 'live leases')),
        el('div', { 'class': 'stat' },
          el('div', { 'class': 'n' }, state.status ? num(state.status.roundMs) + ' ms' : '–'),
          el('div', { 'class': 'l' }, 'leader round')),
        el('div', { 'class': 'stat' },
          el('div', { 'class': 'n' + (statusAge > 5000 ? ' stale' : '') }, age(statusAge)),
          el('div', { 'class': 'l' }, 'leader status'))),
      table(['Node', 'Last seen', 'Load'], ids.map(function (id) {
        return el('tr', { 'data-testid': 'lease-' + id },
          el('td', { 'class': 'mono' }, id),
          el('td', null, age(now - leases[id].at)),
          el('td', null, loadText(leases[id].load)));
      })));
  }

  function planBadge(s) {
    var kind = s === 'applied' ? 'ok' : s === 'failed' ? 'bad' : s === 'applying' ? 'warn' : 'idle';
    return badge(kind, s, { 'data-testid': 'plan-state' });
  }

  function renderPlans() {
    var box = $('plans');
    var plans = state.plans;
    if (plans === null) { fill(box, empty('Loading…')); return; }
    if (plans.length === 0) { fill(box, empty('No plan has been proposed.')); return; }
    var current = plans.find(function (p) { return p.state === 'applying'; }) || plans[0];
    var p = current.progress;
    var pct = p && p.slotsTotal > 0 ? Math.min(100, Math.round((p.slotsDone / p.slotsTotal) * 100))
      : current.state === 'applied' ? 100 : 0;
    var done = el('div');
    done.style.width = pct + '%';
    fill(box,
      el('div', { 'data-testid': 'plan-current', 'data-plan': current.id, 'data-state': current.state },
        el('div', null, el('span', { 'class': 'mono' }, current.id), ' ', planBadge(current.state),
          ' ', el('span', { 'class': 'muted' }, 'created ' + since(current.createdAt))),
        el('div', { 'class': 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100,
          'aria-valuenow': pct, 'data-testid': 'plan-progress' }, done),
        el('div', { 'class': 'muted' }, p
          ? pct + '% · ' + p.phase + ' · ' + num(p.slotsDone) + ' of ' + num(p.slotsTotal) +
            ' slots · ' + num(p.keysMoved) + ' keys moved · ' + since(p.updatedAt)
          : 'not started'),
        current.error ? el('div', { 'class': 'badge bad' }, String(current.error.message || current.error)) : null),
      el('h3', null, 'Recent plans'),
      table(['Plan', 'Created', 'State', 'Findings', 'Progress'], plans.slice(0, 8).map(function (plan) {
        var pr = plan.progress;
        var findings = plan.findings || [];
        return el('tr', { 'data-testid': 'plan-' + plan.id },
          el('td', { 'class': 'mono' }, plan.id),
          el('td', null, clock(plan.createdAt)),
          el('td', null, planBadge(plan.state)),
          el('td', null, findings.length === 0 ? 'none' : findings.map(function (f) {
            return el('div', null, f.severity + ' ' + f.code);
          })),
          el('td', null, pr ? num(pr.slotsDone) + ' / ' + num(pr.slotsTotal) + ' slots' : '–'));
      })));
  }

  // ---- connection -------------------------------------------------------------------------------
  function setConnection(text, kind) {
    var node = document.querySelector('[data-testid="connection"]');
    node.textContent = text;
    node.className = 'badge ' + kind;
  }
  function showBanner(text, kind) {
    var banner = $('banner');
    banner.textContent = text;
    banner.className = kind;
    banner.hidden = false;
  }
  function hideBanner() { $('banner').hidden = true; }

  function AuthError(message) { this.message = message; }

  function headers() { return { authorization: 'Bearer ' + state.token }; }

  async function refused(response) {
    var detail = '';
    try { detail = (await response.json()).message || ''; } catch (e) { detail = ''; }
    return new AuthError('The controller refused the token (' + response.status + ' ' +
      (response.status === 401 ? 'Unauthorized' : 'Forbidden') + ')' + (detail ? ': ' + detail : '') +
      '. Enter the admin token.');
  }

  async function getJson(path) {
    var response = await fetch(path, { headers: headers(), cache: 'no-store' });
    if (response.status === 401 || response.status === 403) throw await refused(response);
    if (!response.ok) throw new Error(path + ' answered ' + response.status);
    return response.json();
  }

  function signOut(message) {
    stop();
    state.token = null;
    state.topology = null; state.status = null; state.plans = null; state.controller = null;
    renderHeader();
    sessionStorage.removeItem(STORAGE_KEY);
    setConnection('signed out', 'bad');
    showBanner(message, 'bad');
    $('banner').setAttribute('data-testid', 'auth-error');
    $('login').hidden = false;
    $('main').hidden = true;
    $('token').focus();
  }

  function failed(error, generation) {
    if (generation !== state.generation) return true;
    if (error instanceof AuthError) { signOut(error.message); return true; }
    return false;
  }

  function sleep(ms, generation) {
    return new Promise(function (resolve) {
      var t = setTimeout(resolve, ms);
      state.timers.push(t);
    }).then(function () { return generation === state.generation; });
  }

  // Splits an SSE byte stream into events; a chunk may end anywhere, even inside a line.
  function sseParser(onEvent) {
    var buffer = '';
    return function (text) {
      buffer += text;
      for (;;) {
        var m = /\r\n\r\n|\n\n|\r\r/.exec(buffer);
        // A lone trailing \r may be the first half of \r\n: wait for the next chunk.
        if (m === null) return;
        var block = buffer.slice(0, m.index);
        buffer = buffer.slice(m.index + m[0].length);
        var event = 'message', data = [];
        block.split(/\r\n|\r|\n/).forEach(function (line) {
          if (line === '' || line[0] === ':') return;
          var colon = line.indexOf(':');
          var field = colon < 0 ? line : line.slice(0, colon);
          var value = colon < 0 ? '' : line.slice(colon + 1);
          if (value[0] === ' ') value = value.slice(1);
          if (field === 'event') event = value;
          else if (field === 'data') data.push(value);
        });
        if (data.length > 0) onEvent(event, data.join('\n'));
      }
    };
  }

  async function follow(generation) {
    var delay = 1000;
    while (generation === state.generation) {
      try {
        var abort = new AbortController();
        state.abort = abort;
        var response = await fetch('v1/topology/stream', {
          headers: headers(), cache: 'no-store', signal: abort.signal
        });
        if (response.status === 401 || response.status === 403) throw await refused(response);
        if (!response.ok || !response.body) throw new Error('the stream answered ' + response.status);
        if (generation !== state.generation) return;
        setConnection('live', 'ok');
        hideBanner();
        delay = 1000;
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var feed = sseParser(function (event, data) {
          state.lastEvent = Date.now();
          if (event === 'topology') state.topology = JSON.parse(data);
          else if (event === 'status') state.status = JSON.parse(data);
          else return;
          render();
        });
        for (;;) {
          var chunk = await reader.read();
          if (chunk.done) break;
          feed(decoder.decode(chunk.value, { stream: true }));
        }
        throw new Error('the stream ended');
      } catch (error) {
        if (failed(error, generation)) return;
        setConnection('reconnecting', 'warn');
        showBanner('Lost the live stream (' + (error && error.message ? error.message : error) +
          '); reconnecting in ' + Math.round(delay / 1000) + ' s.', 'warn');
        if (!(await sleep(delay, generation))) return;
        delay = Math.min(delay * 2, 10000);
      }
    }
  }

  function poll(path, everyMs, apply, generation) {
    (async function () {
      while (generation === state.generation) {
        try {
          apply(await getJson(path));
          render();
        } catch (error) {
          if (failed(error, generation)) return;
        }
        if (!(await sleep(everyMs, generation))) return;
      }
    })();
  }

  function stop() {
    state.generation++;
    if (state.abort) state.abort.abort();
    state.abort = null;
    state.timers.forEach(clearTimeout);
    state.timers = [];
  }

  function start(token) {
    stop();
    state.token = token;
    state.topology = null; state.status = null; state.plans = null; state.controller = null;
    sessionStorage.setItem(STORAGE_KEY, token);
    hideBanner();
    $('banner').setAttribute('data-testid', 'banner');
    $('login').hidden = true;
    $('main').hidden = false;
    setConnection('connecting', 'idle');
    render();
    var generation = state.generation;
    follow(generation);
    poll('v1/plans', 2000, function (body) { state.plans = body.plans; }, generation);
    poll('v1/status', 5000, function (body) {
      state.controller = body.controller;
      if (body.status && !state.status) state.status = body.status;
    }, generation);
  }

  // Ages move even when nothing arrives.
  setInterval(function () { if (state.token) render(); }, 1000);

  $('login').addEventListener('submit', function (event) {
    event.preventDefault();
    var token = $('token').value.trim();
    $('token').value = '';
    if (token) start(token);
  });

  var fromHash = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (fromHash) {
    // Keep the token out of the address bar, the history and any bookmark.
    history.replaceState(null, '', location.pathname + location.search);
  }
  var initial = fromHash ? decodeURIComponent(fromHash[1]) : sessionStorage.getItem(STORAGE_KEY);
  if (initial) {
    start(initial);
  } else {
    setConnection('signed out', 'idle');
    $('login').hidden = false;
  }
})();
</script>
</body>
</html>
`;
