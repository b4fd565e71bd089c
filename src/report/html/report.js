// rolecall's HTML report: renders the run's JSON document (in #rolecall-results) as a grid of
// hosts by checks. Self-contained: no network, works from file://. Each result is a
// <span class="r"> with data-id, data-host, data-check (plugin/check) and data-status, also in
// the rows a fold hides.
(function () {
  'use strict';
  const started = performance.now();
  const $ = (id) => document.getElementById(id);
  const read = (id) => JSON.parse($(id).textContent);
  const doc = read('rolecall-results') || {};
  const dep = read('rolecall-deployment') || {};
  const DEPLOYMENT = '(deployment)';
  // Worst first.
  const STATUSES = ['error', 'fail', 'warn', 'waived', 'pass', 'skip'];
  const SYMBOL = { error: '!', fail: '✗', warn: '▲', waived: '≈', pass: '✓', skip: '–' };
  const rank = (s) => { const i = STATUSES.indexOf(s); return i < 0 ? 0 : i; };
  const esc = (s) => String(s === undefined || s === null ? '' : s)
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&#39;');

  // The results, one shape for every command.
  const isRun = typeof doc.command === 'string';
  const results = (doc.results || []).map((r, i) => {
    if (isRun) {
      const status = r.outcome === 'ok' ? 'pass'
        : (r.outcome === 'failed' || r.outcome === 'killed' ? 'fail' : 'error');
      let message = r.outcome;
      if (r.exit_code !== undefined && r.exit_code !== null) message = 'exit ' + r.exit_code;
      if (r.error) message += ': ' + r.error;
      return {
        id: i, host: r.host, plugin: 'run', check: 'command', key: 'run/command', status,
        message, stdout: r.stdout, stderr: r.stderr, duration_ms: r.duration_ms,
      };
    }
    return Object.assign({}, r, {
      id: r.id === undefined ? i : r.id,
      key: r.plugin + '/' + r.check,
      status: r.waived ? 'waived' : r.status,
      host: r.host === undefined ? null : r.host,
    });
  });
  const byId = new Map(results.map((r) => [r.id, r]));
  const causes = doc.causes || [];
  const unreached = new Map((doc.unreached || []).map((u) => [u.host, u.reason]));
  const hostOrder = new Map((dep.hosts || []).map((h, i) => [h, i]));
  const roles = dep.roles || {};
  const clusters = dep.clusters || {};

  // nc01,nc02,nc03,nc07 -> nc[01-03,07], as rolecall folds host names.
  function foldNames(names) {
    const groups = new Map();
    const out = [];
    for (const n of names) {
      const m = /^(.*?)(\d+)$/.exec(n);
      if (!m) { out.push({ name: n }); continue; }
      const key = m[1] + '\u0000' + m[2].length;
      if (!groups.has(key)) { groups.set(key, { prefix: m[1], width: m[2].length, nums: [] }); out.push({ key }); }
      groups.get(key).nums.push(Number(m[2]));
    }
    return out.map((o) => {
      if (o.name !== undefined) return o.name;
      const g = groups.get(o.key);
      const pad = (n) => String(n).padStart(g.width, '0');
      if (g.nums.length === 1) return g.prefix + pad(g.nums[0]);
      const nums = Array.from(new Set(g.nums)).sort((a, b) => a - b);
      const parts = [];
      let lo = nums[0];
      let hi = nums[0];
      for (const n of nums.slice(1).concat([NaN])) {
        if (n === hi + 1) { hi = n; continue; }
        parts.push(lo === hi ? pad(lo) : pad(lo) + '-' + pad(hi));
        lo = n; hi = n;
      }
      return g.prefix + '[' + parts.join(',') + ']';
    }).join(',');
  }

  // What the filters select.
  const state = { statuses: new Set(STATUSES), role: '', plugin: '', search: '', only: null, group: 'none' };
  const expanded = new Set();

  function selected(r) {
    if (!state.statuses.has(r.status)) return false;
    if (state.plugin && r.plugin !== state.plugin) return false;
    const host = r.host === null ? DEPLOYMENT : r.host;
    if (state.only && !state.only.has(host)) return false;
    if (state.role) {
      if (r.host === null || !(roles[state.role] || []).includes(r.host)) return false;
    }
    if (state.search && !host.toLowerCase().includes(state.search.toLowerCase())) return false;
    return true;
  }

  function summary() {
    const s = doc.summary || {};
    const parts = [];
    if (isRun) {
      for (const k of ['hosts', 'ok', 'failed', 'timed_out', 'connection_lost', 'not_run']) {
        if (s[k] !== undefined) parts.push('<span class="count" data-count="' + k + '">' + esc(s[k]) + ' ' + esc(k.replace('_', ' ')) + '</span>');
      }
    } else {
      const t = s.total || {};
      for (const k of ['total', 'pass', 'fail', 'warn', 'skip', 'error', 'waived']) {
        if (t[k] === undefined) continue;
        const sym = SYMBOL[k] ? '<span class="s-' + k + '">' + SYMBOL[k] + '</span> ' : '';
        parts.push('<span class="count" data-count="' + k + '">' + sym + esc(t[k]) + ' ' + esc(k) + '</span>');
      }
    }
    const code = s.exit_code;
    const cls = code === 0 ? 'exit' : code === 1 ? 'exit bad' : 'exit broken';
    parts.unshift('<span class="' + cls + '" data-exit-code="' + esc(code) + '">exit ' + esc(code) + '</span>');
    const reasons = (s.exit_reasons || []).map((r) => esc(r.reason));
    if (reasons.length) parts.push('<span class="reasons">' + reasons.join('; ') + '</span>');
    if (doc.interrupted) parts.push('<span class="reasons">interrupted: these results are partial</span>');
    $('summary').innerHTML = parts.join(' ');
  }

  // A deployment that did not load: its errors, where the causes would be.
  function errorsList() {
    const errors = doc.errors || [];
    if (!errors.length) return;
    const items = errors.map((e) => {
      const at = e.file ? esc(e.file + (e.line ? ':' + e.line + ':' + e.column : '')) + (e.path ? ' (' + esc(e.path) + ')' : '') + ': ' : '';
      return '<li class="load-error">' + at + esc(e.message) + (e.hint ? '<div class="based">hint: ' + esc(e.hint) + '</div>' : '') + '</li>';
    });
    const el = $('causes');
    el.innerHTML = '<h2>The deployment did not load</h2><ol>' + items.join('') + '</ol>';
    el.hidden = false;
  }

  function causesList() {
    if (!causes.length) return;
    const items = causes.map((c) => {
      const fix = c.fix ? '<div class="fix">fix: <code>' + esc(c.fix) + '</code></div>' : '';
      return '<li data-cause="' + esc(c.id) + '" data-kind="' + esc(c.kind) + '"><span class="msg">' + esc(c.message) +
        '</span> <button type="button" class="show-cause" data-cause="' + esc(c.id) + '">show these hosts</button>' +
        '<div class="based">based on: ' + esc(c.based_on) + '</div>' + fix + '</li>';
    });
    const el = $('causes');
    el.innerHTML = '<h2>Likely causes</h2><ol>' + items.join('') + '</ol>';
    el.hidden = false;
  }

  function controls() {
    const counts = new Map();
    for (const r of results) counts.set(r.status, (counts.get(r.status) || 0) + 1);
    const boxes = STATUSES.filter((s) => counts.has(s)).map((s) =>
      '<label><input type="checkbox" name="status" value="' + s + '" checked> <span class="s-' + s + '">' +
      SYMBOL[s] + '</span> ' + s + ' (' + counts.get(s) + ')</label>');
    const plugins = Array.from(new Set(results.map((r) => r.plugin)));
    const option = (v) => '<option value="' + esc(v) + '">' + esc(v) + '</option>';
    const roleNames = Object.keys(roles);
    $('controls').innerHTML = boxes.join(' ') +
      (roleNames.length ? ' <label>role <select id="f-role"><option value="">all</option>' + roleNames.map(option).join('') + '</select></label>' : '') +
      (plugins.length > 1 ? ' <label>plugin <select id="f-plugin"><option value="">all</option>' + plugins.map(option).join('') + '</select></label>' : '') +
      ' <label>host <input type="search" id="f-search" placeholder="name contains"></label>' +
      ' <label>group by <select id="f-group"><option value="none">nothing</option>' +
      (roleNames.length ? '<option value="role">role</option>' : '') +
      (Object.keys(clusters).length ? '<option value="cluster">cluster</option>' : '') + '</select></label>' +
      ' <button type="button" id="f-expand">expand all</button> <span id="f-only"></span>';
  }

  // The grid: hosts (rows) by checks (columns), worst first; hosts whose rows are the same
  // folded into one, members hidden until expanded.
  function grid() {
    const shown = results.filter(selected);
    const cols = new Map();
    const rows = new Map();
    for (const r of shown) {
      const c = cols.get(r.key) || { key: r.key, worst: 99, first: cols.size };
      c.worst = Math.min(c.worst, rank(r.status));
      cols.set(r.key, c);
      const host = r.host === null ? DEPLOYMENT : r.host;
      let row = rows.get(host);
      if (!row) { row = { host, cells: new Map(), worst: 99 }; rows.set(host, row); }
      row.worst = Math.min(row.worst, rank(r.status));
      if (!row.cells.has(r.key)) row.cells.set(r.key, []);
      row.cells.get(r.key).push(r);
    }
    if (!shown.length) {
      $('grid').innerHTML = '<div class="empty">No result matches the filters.</div>';
      return;
    }
    const columns = Array.from(cols.values()).sort((a, b) => a.worst - b.worst || a.first - b.first);
    const order = (h) => (h === DEPLOYMENT ? -1 : hostOrder.has(h) ? hostOrder.get(h) : 1e9);
    const hostRows = Array.from(rows.values()).sort((a, b) => a.worst - b.worst || order(a.host) - order(b.host));
    // Sections: everything, or per role / cluster (a host under its first one).
    let sections = [{ name: null, rows: hostRows }];
    if (state.group !== 'none') {
      const groups = state.group === 'role' ? roles : clusters;
      const home = new Map();
      for (const [name, members] of Object.entries(groups)) {
        for (const h of members) if (!home.has(h)) home.set(h, name);
      }
      const by = new Map();
      for (const row of hostRows) {
        const name = home.get(row.host) || (row.host === DEPLOYMENT ? DEPLOYMENT : 'in no ' + state.group);
        if (!by.has(name)) by.set(name, []);
        by.get(name).push(row);
      }
      sections = Array.from(by.entries()).map(([name, rs]) => ({ name, rows: rs }));
    }
    const html = [];
    html.push('<table class="grid"><thead><tr><th class="host">host</th>');
    for (const c of columns) html.push('<th class="col" title="' + esc(c.key) + '">' + esc(c.key) + '</th>');
    html.push('</tr></thead><tbody>');
    const span = (r) => '<span class="r s-' + r.status + (r.explained_by ? ' explained' : '') +
      '" tabindex="0" data-id="' + r.id + '" data-host="' + esc(r.host === null ? '' : r.host) +
      '" data-check="' + esc(r.key) + '" data-status="' + r.status + '" title="' + esc(r.status + ': ' + r.message) + '">' +
      SYMBOL[r.status] + '</span>';
    const conn = (host) => (unreached.has(host) ? ' <span class="unreached" title="' + esc(unreached.get(host)) + '">not reached</span>' : '');
    const cellsOf = (row, rep) => columns.map((c) => {
      const list = row.cells.get(c.key) || [];
      if (rep) return '<td>' + list.map((r) => '<span class="rep s-' + r.status + '">' + SYMBOL[r.status] + '</span>').join('') + '</td>';
      return '<td>' + list.map(span).join('') + '</td>';
    }).join('');
    let groupNo = 0;
    for (const section of sections) {
      if (section.name !== null) {
        html.push('<tr class="section"><th colspan="' + (columns.length + 1) + '">' + esc(state.group) + ' ' +
          esc(section.name) + ' <span class="times">(' + section.rows.length + ' hosts)</span></th></tr>');
      }
      // Fold rows with the same statuses in every column and the same connection.
      const folds = new Map();
      for (const row of section.rows) {
        const sig = columns.map((c) => (row.cells.get(c.key) || []).map((r) => r.status).join(',')).join('|') +
          '#' + (unreached.get(row.host) || '').split(':')[0];
        if (!folds.has(sig)) folds.set(sig, []);
        folds.get(sig).push(row);
      }
      for (const members of folds.values()) {
        if (members.length === 1 || members[0].host === DEPLOYMENT) {
          for (const row of members) {
            html.push('<tr class="single" data-row="' + esc(row.host) + '"><td class="host">' + esc(row.host) + conn(row.host) + '</td>' + cellsOf(row, false) + '</tr>');
          }
          continue;
        }
        const g = 'g' + (groupNo++) + ':' + members[0].host;
        const open = expanded.has(g);
        html.push('<tr class="group" data-group="' + esc(g) + '"><td class="host"><button type="button" class="fold" data-group="' +
          esc(g) + '" aria-expanded="' + open + '">' + (open ? '▾' : '▸') + '</button>' +
          esc(foldNames(members.map((m) => m.host))) + ' <span class="times">×' + members.length + '</span>' +
          conn(members[0].host) + '</td>' + cellsOf(members[0], true) + '</tr>');
        for (const row of members) {
          html.push('<tr class="member" data-member-of="' + esc(g) + '" data-row="' + esc(row.host) + '"' + (open ? '' : ' hidden') +
            '><td class="host">' + esc(row.host) + '</td>' + cellsOf(row, false) + '</tr>');
        }
      }
    }
    html.push('</tbody></table>');
    $('grid').innerHTML = html.join('');
  }

  function details(id) {
    const r = byId.get(id);
    if (!r) return;
    document.querySelectorAll('.r.selected').forEach((e) => e.classList.remove('selected'));
    document.querySelectorAll('.r[data-id="' + id + '"]').forEach((e) => e.classList.add('selected'));
    const rows = [];
    const add = (k, v) => { if (v !== undefined && v !== null && v !== '') rows.push('<dt>' + esc(k) + '</dt><dd>' + v + '</dd>'); };
    add('host', esc(r.host === null ? DEPLOYMENT : r.host));
    add('check', esc(r.key));
    add('status', '<span class="s-' + r.status + '">' + SYMBOL[r.status] + ' ' + esc(r.status) + '</span>');
    add('message', esc(r.message));
    if (r.location) {
      const l = r.location;
      add('place', esc(l.file + (l.line ? ':' + l.line + ':' + l.column : '') + (l.path ? ' (' + l.path + ')' : '')));
    }
    if (r.duration_ms !== undefined) add('duration', esc((r.duration_ms / 1000).toFixed(3) + ' s'));
    if (r.waived) add('waived', esc(r.waived.reason + (r.waived.expires ? ' (until ' + r.waived.expires + ')' : '')));
    if (r.baseline) add('baseline', esc(r.baseline));
    if (r.host !== null && unreached.has(r.host)) add('not reached', esc(unreached.get(r.host)));
    for (const n of r.explained_by || []) {
      const c = causes.find((x) => x.id === n);
      if (c) add('likely cause', esc(c.message));
    }
    // What the plugin sent to this host.
    const sent = isRun ? [{ command: doc.command }] : ((doc.commands || {})[r.plugin] || [])
      .filter((c) => r.host !== null && (c.hosts || []).includes(r.host));
    if (sent.length) add('command' + (sent.length > 1 ? 's' : '') + ' sent', sent.map((c) => '<pre class="mono">' + esc(c.command) + '</pre>').join(''));
    const excerpt = (s) => (s && s.length > 4000 ? s.slice(0, 4000) + '\n… (' + (s.length - 4000) + ' more bytes in the JSON)' : s);
    if (r.stdout) add('stdout', '<pre class="mono">' + esc(excerpt(r.stdout)) + '</pre>');
    if (r.stderr) add('stderr', '<pre class="mono">' + esc(excerpt(r.stderr)) + '</pre>');
    const el = $('details');
    el.innerHTML = '<button type="button" class="close">close</button><h2>' + esc(r.key) + ' on ' +
      esc(r.host === null ? DEPLOYMENT : r.host) + '</h2><dl>' + rows.join('') + '</dl>';
    el.hidden = false;
    el.dataset.id = String(id);
  }

  function refresh() {
    grid();
    const only = $('f-only');
    only.innerHTML = state.only ? '<span class="chip">' + state.only.size + ' hosts of a cause <button type="button" id="f-clear">clear</button></span>' : '';
  }

  function wire() {
    $('controls').addEventListener('change', (e) => {
      const t = e.target;
      if (t.name === 'status') { if (t.checked) state.statuses.add(t.value); else state.statuses.delete(t.value); }
      if (t.id === 'f-role') state.role = t.value;
      if (t.id === 'f-plugin') state.plugin = t.value;
      if (t.id === 'f-group') state.group = t.value;
      refresh();
    });
    $('controls').addEventListener('input', (e) => {
      if (e.target.id === 'f-search') { state.search = e.target.value.trim(); refresh(); }
    });
    $('controls').addEventListener('click', (e) => {
      if (e.target.id === 'f-expand') {
        const all = document.querySelectorAll('tr.group');
        const open = Array.from(all).some((g) => !expanded.has(g.dataset.group));
        all.forEach((g) => { if (open) expanded.add(g.dataset.group); else expanded.delete(g.dataset.group); });
        refresh();
      }
      if (e.target.id === 'f-clear') { state.only = null; refresh(); }
    });
    $('causes').addEventListener('click', (e) => {
      const b = e.target.closest('button.show-cause');
      if (!b) return;
      const c = causes.find((x) => String(x.id) === b.dataset.cause);
      if (c) { state.only = new Set(c.affected); refresh(); }
    });
    $('grid').addEventListener('click', (e) => {
      const fold = e.target.closest('button.fold');
      if (fold) {
        const g = fold.dataset.group;
        const open = !expanded.has(g);
        if (open) expanded.add(g); else expanded.delete(g);
        document.querySelectorAll('tr[data-member-of="' + CSS.escape(g) + '"]').forEach((tr) => { tr.hidden = !open; });
        fold.setAttribute('aria-expanded', String(open));
        fold.textContent = open ? '▾' : '▸';
        return;
      }
      const r = e.target.closest('span.r');
      if (r) details(Number(r.dataset.id));
    });
    $('grid').addEventListener('keydown', (e) => {
      const r = e.target.closest('span.r');
      if (r && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); details(Number(r.dataset.id)); }
    });
    $('details').addEventListener('click', (e) => {
      if (e.target.closest('button.close')) $('details').hidden = true;
    });
  }

  summary();
  errorsList();
  causesList();
  controls();
  wire();
  refresh();
  window.rolecallRenderMs = performance.now() - started;
  document.body.dataset.rendered = 'true';
})();
