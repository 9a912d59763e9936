// The gateway inspector's page: reads /_inspector/api/… and the /_inspector/feed server-sent
// events. Everything from the gateway is put in the DOM as text, never as HTML.

const TIMELINE_MAX = 1000;
const REFRESH_MS = 2000;

/** @type {Map<string, any>} open connections by id, as last listed */
let connections = new Map();
/** @type {string | null} the connection whose timeline is shown */
let scope = null;
/** @type {any[]} the records shown (newest last), bounded */
let records = [];
let next = 0;
let listTimer = 0;

const $ = (/** @type {string} */ selector) => /** @type {HTMLElement} */ (document.querySelector(selector));

/** An element with text content (and optional class and attributes). */
function el(tag, text = '', className = '', attributes = {}) {
  const node = document.createElement(tag);
  if (text !== '') node.textContent = String(text);
  if (className) node.className = className;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

async function getJson(path) {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

// Actions carry the API token the user typed, as any other caller must; it stays in this tab.
const TOKEN_KEY = 'ws-bridge-inspector-api-token';

function apiToken() {
  return /** @type {HTMLInputElement} */ ($('#api-token')).value.trim();
}

async function postJson(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { 'content-type': 'application/json' };
  const token = apiToken();
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? '{}' : JSON.stringify(body),
  });
  // Every answer is JSON: the call's status and report, or {"error": …} with the status.
  return response.json();
}

const time = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false }) + '.' + String(ms % 1000).padStart(3, '0');

function duration(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms / 100) / 10)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

const preview = (p) => (p ? p.text + (p.truncated ? '…' : '') : '');

/** One line describing a record. */
function describe(r) {
  switch (r.type) {
    case 'handshake':
      return `${r.status === 101 ? '101 Switching Protocols' : `refused ${r.status}`}  ${r.target}  from ${r.sourceIp}`;
    case 'frame_in':
      return `${r.route ? `→ ${r.route}` : 'no route (Forbidden)'}  ${r.size} B  ${preview(r.preview)}`;
    case 'frame_out':
      return `${r.size} B  ${preview(r.preview)}`;
    case 'invocation':
      return `${r.function}  ${r.routeKey ?? ''}  ${r.outcome}${r.error ? `: ${r.error}` : ''}  ${r.durationMs.toFixed(1)} ms  ${preview(r.resultPreview)}`;
    case 'management':
      return `${r.method} @connections  ${r.status}${r.size != null ? `  ${r.size} B` : ''}`;
    case 'close':
      return `${r.code} ${r.reason}`;
    case 'http':
      return `${r.method} ${r.target}  ${r.status}  ${r.durationMs.toFixed(1)} ms  ${preview(r.reportPreview)}`;
    default:
      return JSON.stringify(r);
  }
}

const failed = (r) =>
  (r.type === 'handshake' && r.status !== 101) ||
  (r.type === 'invocation' && r.outcome !== 'ok') ||
  ((r.type === 'management' || r.type === 'http') && r.status >= 400) ||
  (r.type === 'close' && r.code !== 1000 && r.code !== 1001);

function shown(r) {
  if (scope && r.connectionId !== scope) return false;
  const filter = /** @type {HTMLInputElement} */ ($('#timeline-filter')).value.trim().toLowerCase();
  if (!filter) return true;
  return `${r.type} ${r.connectionId ?? ''} ${describe(r)}`.toLowerCase().includes(filter);
}

function timelineItem(r) {
  if (r.type === 'lagged') {
    return el('li', `lagged: ${r.skipped} events were dropped before this page read them`, 'lagged', {
      'data-type': 'lagged',
    });
  }
  const item = el('li', '', failed(r) ? 'failed' : '', { 'data-type': r.type, 'data-seq': r.seq });
  if (r.connectionId) item.setAttribute('data-connection-id', r.connectionId);
  item.append(el('span', time(r.at), 'mono muted'), el('span', r.type.replace('_', ' '), `kind kind-${r.type}`));
  const who = el('span', '', 'mono summary');
  if (r.connectionId) {
    const link = el('a', r.connectionId, 'connection', { title: 'this connection’s timeline' });
    link.addEventListener('click', (event) => {
      event.stopPropagation();
      setScope(r.connectionId);
    });
    who.append(link);
  }
  item.append(who, el('span', describe(r), 'mono summary', { title: describe(r) }));
  if (r.type === 'invocation' && r.coldStart) {
    // The first invocation its process served, as Lambda's REPORT line shows `Init Duration`.
    const init = `init ${r.initDurationMs.toFixed(0)} ms`;
    item.append(el('span', `cold · ${init}`, 'badge cold', { title: `cold start: a new process (${init})` }));
  }
  if (r.type === 'invocation' || r.type === 'http') {
    item.classList.add('clickable');
    item.addEventListener('click', () => showDetail(r.seq));
  }
  return item;
}

function renderTimeline() {
  const list = $('#timeline');
  list.replaceChildren(
    ...records
      .filter((r) => r.type === 'lagged' || shown(r))
      .reverse()
      .map(timelineItem),
  );
}

function addRecords(batch) {
  records.push(...batch);
  if (records.length > TIMELINE_MAX) records.splice(0, records.length - TIMELINE_MAX);
  if (/** @type {HTMLInputElement} */ ($('#pause')).checked) return;
  const list = $('#timeline');
  for (const r of batch) {
    if (r.type === 'lagged' || shown(r)) list.prepend(timelineItem(r));
  }
  while (list.children.length > TIMELINE_MAX) list.lastChild?.remove();
  if (batch.some((r) => r.type === 'handshake' || r.type === 'close' || r.type === 'frame_in')) scheduleList(100);
}

async function showDetail(seq) {
  const detail = $('#detail');
  detail.classList.remove('muted');
  try {
    const r = await getJson(`/_inspector/api/events/${seq}`);
    $('#detail-title').textContent = `#${r.seq} ${r.type} ${r.function ?? r.target ?? ''}`;
    const parts = r.type === 'invocation' ? { event: r.event, result: r.result, error: r.error } : { report: r.report };
    const show = (value) => (value && 'json' in value ? value.json : value);
    detail.textContent = Object.entries(parts)
      .map(([name, value]) => `${name}:\n${JSON.stringify(show(value), null, 2)}`)
      .join('\n\n');
  } catch (error) {
    detail.textContent = String(error);
  }
}

function setScope(id) {
  scope = id;
  $('#timeline-scope').textContent = id ? `of ${id}` : '';
  $('#clear-scope').hidden = !id;
  if (id) /** @type {HTMLInputElement} */ ($('#send-connection')).value = id;
  renderConnections();
  // What this page has already filters at once; the fetch below adds the older events.
  renderTimeline();
  if (!id) return;
  // The connection's own events from the whole ring, not only those this page has seen.
  getJson(`/_inspector/api/events?connection=${encodeURIComponent(id)}`)
    .then((page) => {
      if (scope !== id) return;
      const known = new Set(records.map((r) => r.seq));
      records = [...records, ...page.records.filter((r) => !known.has(r.seq))].sort(
        (a, b) => (a.seq ?? 0) - (b.seq ?? 0),
      );
      renderTimeline();
    })
    .catch(() => renderTimeline());
}

function renderConnections() {
  const filter = /** @type {HTMLInputElement} */ ($('#connection-filter')).value.trim().toLowerCase();
  const now = Date.now();
  const rows = [];
  for (const c of connections.values()) {
    const haystack = [c.id, c.user, c.clientId, c.sourceIp, c.userAgent, ...c.channels].join(' ').toLowerCase();
    if (filter && !haystack.includes(filter)) continue;
    const row = el('tr', '', c.id === scope ? 'selected' : '', { 'data-connection-id': c.id });
    row.append(
      el('td', c.id, 'mono'),
      el('td', c.user ?? '—'),
      el('td', c.clientId ?? '—', 'mono'),
      el('td', c.sourceIp),
      el('td', time(c.connectedAt), 'mono', { title: new Date(c.connectedAt).toISOString() }),
      el('td', duration(now - c.lastActiveAt), 'idle', { 'data-last-active': c.lastActiveAt }),
      el('td', c.channels.join(', ') || '—'),
      el('td', `${c.framesIn} / ${c.framesOut}`, 'mono'),
    );
    const cell = el('td');
    const close = el('button', 'disconnect', 'danger', { type: 'button', 'data-action': 'disconnect' });
    close.addEventListener('click', async (event) => {
      event.stopPropagation();
      showResult(await postJson('DELETE', `/_inspector/api/connections/${encodeURIComponent(c.id)}`));
      scheduleList(50);
    });
    cell.append(close);
    row.append(cell);
    row.addEventListener('click', () => setScope(c.id));
    rows.push(row);
  }
  $('#connections tbody').replaceChildren(...rows);
  $('#no-connections').hidden = connections.size > 0;
}

function updateIdle() {
  const now = Date.now();
  for (const cell of document.querySelectorAll('#connections td.idle')) {
    cell.textContent = duration(now - Number(cell.getAttribute('data-last-active')));
  }
}

async function refreshConnections() {
  try {
    const list = await getJson('/_inspector/api/connections');
    connections = new Map(list.connections.map((c) => [c.id, c]));
    $('#connection-count').textContent =
      list.total > list.connections.length
        ? `${list.total} (newest ${list.connections.length} listed)`
        : String(list.total);
    renderConnections();
  } catch {
    // The gateway may be restarting; the next refresh tries again.
  }
}

function scheduleList(delay) {
  clearTimeout(listTimer);
  listTimer = setTimeout(refreshConnections, delay);
}

function showResult(result) {
  const box = $('#action-result');
  box.classList.remove('muted');
  box.textContent = JSON.stringify(result, null, 2);
}

function connectFeed() {
  const status = $('#feed-status');
  const feed = new EventSource(`/_inspector/feed?after=${next}`);
  feed.addEventListener('open', () => {
    status.textContent = 'live';
    status.className = 'status live';
  });
  feed.addEventListener('records', (event) => {
    const batch = JSON.parse(/** @type {MessageEvent} */ (event).data);
    next = batch.next;
    addRecords(batch.records);
  });
  feed.addEventListener('lagged', (event) => {
    const lag = JSON.parse(/** @type {MessageEvent} */ (event).data);
    next = lag.next;
    addRecords([{ type: 'lagged', skipped: lag.skipped }]);
  });
  feed.addEventListener('error', () => {
    // Reconnect from where this page is, not from where the feed started.
    feed.close();
    status.textContent = 'reconnecting…';
    status.className = 'status down';
    setTimeout(connectFeed, 1000);
  });
}

function renderConfig(config) {
  $('#endpoints').textContent = `WebSocket ${config.urls.websocket} · HTTP API ${config.urls.http}`;
  const routes = $('#routes');
  const table = (caption, head, rows) => {
    const t = el('table');
    t.append(el('caption', caption, 'muted'));
    const tr = el('tr');
    tr.append(...head.map((h) => el('th', h)));
    t.append(tr);
    for (const row of rows) {
      const r = el('tr');
      r.append(...row.map((cell) => el('td', cell, 'mono')));
      t.append(r);
    }
    return t;
  };
  routes.replaceChildren(
    el('p', `Routes from ${config.routes.source}; selection expression ${config.routes.selectionExpression}.`),
    table(
      'WebSocket routes',
      ['route key', 'function', 'route response'],
      config.routes.websocket.map((r) => [r.routeKey, r.function, r.twoWay ? 'two-way' : 'one-way']),
    ),
    table(
      'Authorizer',
      ['function', 'identity sources'],
      config.routes.authorizer
        ? [[config.routes.authorizer.function, config.routes.authorizer.identitySources.join(', ')]]
        : [['none', '']],
    ),
    table(
      'HTTP API routes',
      ['method', 'path', 'function'],
      config.routes.http.map((r) => [r.method, r.path, r.function]),
    ),
  );
  $('#settings').textContent = JSON.stringify({ urls: config.urls, settings: config.settings }, null, 2);
}

async function start() {
  const tokenInput = /** @type {HTMLInputElement} */ ($('#api-token'));
  tokenInput.value = sessionStorage.getItem(TOKEN_KEY) ?? '';
  tokenInput.addEventListener('input', () => sessionStorage.setItem(TOKEN_KEY, tokenInput.value));
  $('#connection-filter').addEventListener('input', renderConnections);
  $('#timeline-filter').addEventListener('input', renderTimeline);
  $('#pause').addEventListener('change', renderTimeline);
  $('#clear-scope').addEventListener('click', () => setScope(null));
  $('#send-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const id = /** @type {HTMLInputElement} */ ($('#send-connection')).value.trim();
    const data = /** @type {HTMLTextAreaElement} */ ($('#send-data')).value;
    showResult(await postJson('POST', `/_inspector/api/connections/${encodeURIComponent(id)}/messages`, { data }));
  });
  $('#broadcast-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const channel = /** @type {HTMLInputElement} */ ($('#broadcast-channel')).value.trim();
    const data = /** @type {HTMLTextAreaElement} */ ($('#broadcast-data')).value;
    showResult(await postJson('POST', '/_inspector/api/broadcast', { channel, data }));
  });
  getJson('/_inspector/api/config').then(renderConfig, () => {});
  const page = await getJson('/_inspector/api/events?limit=500');
  next = page.next;
  records.push(...page.records);
  renderTimeline();
  connectFeed();
  await refreshConnections();
  setInterval(refreshConnections, REFRESH_MS);
  // Idle times move every second even when nothing is refreshed.
  setInterval(updateIdle, 1000);
}

start();
