// The gateway's inspector page in headless Chromium against a real gateway, with real
// WebSocket clients (the `ws` package) on it:
//
//   WS_BRIDGE_GATEWAY=target/debug/local-gateway node --test local-gateway/inspector-test/
//
// The gateway runs with JWT auth on, so every client connects with a real `?token=`, and with
// an API token, which the page's actions must carry: the user types it into the page.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { launchChromium, repoRoot, sleep, startGateway, waitFor } from '../../clients/js/test/browser.mjs';
import { mintToken } from '../../clients/js/test/jwt.mjs';

// The browser client's test packages, where `ws` is installed.
const WebSocket = createRequire(join(repoRoot, 'clients', 'js', 'package.json'))('ws');

const SECRET = 'inspector-test-secret';
// The HTTP API's token: the page's actions must carry it, and it must never show.
const API_TOKEN = 'inspector-test-api-token';
/** A connection shows in the page within this of its handshake (the bound). */
const LISTED_WITHIN_MS = 1000;

/** @type {Awaited<ReturnType<typeof startGateway>>} */
let gateway;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {Set<any>} */
const clients = new Set();

before(async () => {
  gateway = await startGateway({ env: { JWT_SECRET: SECRET, API_TOKEN } });
  browser = await launchChromium();
});

after(async () => {
  for (const client of clients) client.ws.terminate();
  await browser?.close();
  await gateway?.stop();
});

const unique = (prefix) => `${prefix}-${randomBytes(4).toString('hex')}`;

/** A real client with a fresh token; it records what it receives and how it closed. */
async function connect(clientId, user = 'alice') {
  const token = mintToken(SECRET, { sub: user });
  const ws = new WebSocket(`${gateway.wsUrl}?clientId=${clientId}&token=${token}`);
  /** @type {string[]} */
  const messages = [];
  ws.on('message', (data) => messages.push(String(data)));
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const client = {
    ws,
    token,
    messages,
    closed,
    /** Sends `request` and resolves with the first answer of type `type`. */
    async ask(request, type) {
      const from = messages.length;
      ws.send(JSON.stringify(request));
      return waitFor(
        () =>
          messages
            .slice(from)
            .map((m) => JSON.parse(m))
            .find((m) => m.type === type),
        { what: `a ${type} answer` },
      );
    },
    async id() {
      return (await client.ask({ action: 'hello' }, 'welcome')).data.connectionId;
    },
    close() {
      ws.close(1000);
      clients.delete(client);
    },
  };
  clients.add(client);
  return client;
}

/** The inspector page, once its feed is live. */
async function openInspector(t) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  t.after(() => page.close());
  const errors = [];
  page.on('pageerror', (error) => errors.push(error));
  t.after(() => assert.deepEqual(errors, [], 'the page threw'));
  await page.goto(`http://127.0.0.1:${gateway.port}/`);
  await page.locator('#feed-status.live').waitFor({ timeout: 5000 });
  await page.fill('#api-token', API_TOKEN);
  return page;
}

test('the page lists a connection within a second of its handshake and removes it on close', async (t) => {
  const page = await openInspector(t);
  const clientId = unique('tab');
  const client = await connect(clientId, 'listed-user');
  const row = page.locator('#connections tbody tr', { hasText: clientId });
  await row.waitFor({ timeout: LISTED_WITHIN_MS });
  const text = await row.innerText();
  assert.match(text, /listed-user/);
  assert.match(text, /127\.0\.0\.1/);
  client.close();
  await row.waitFor({ state: 'detached', timeout: 2 * LISTED_WITHIN_MS });
  // And the close is on the timeline with its code.
  await page.locator('#timeline li[data-type="close"]', { hasText: '1000' }).first().waitFor({ timeout: 2000 });
});

test("a frame a client sends appears with its route, and the invocation's event and result open on a click", async (t) => {
  const page = await openInspector(t);
  const client = await connect(unique('frames'));
  const id = await client.id();
  await client.ask({ action: 'ping' }, 'pong');
  const frame = page.locator(`#timeline li[data-type="frame_in"][data-connection-id="${id}"]`, {
    hasText: '"action":"ping"',
  });
  await frame.waitFor({ timeout: 2000 });
  assert.match(await frame.innerText(), /→ \$default/);
  const invocation = page
    .locator(`#timeline li[data-type="invocation"][data-connection-id="${id}"]`, { hasText: 'pong' })
    .first();
  await invocation.waitFor({ timeout: 2000 });
  assert.match(await invocation.innerText(), /ws-default/);
  await invocation.click();
  await page.locator('#detail', { hasText: '"routeKey": "$default"' }).waitFor({ timeout: 2000 });
  const detail = await page.locator('#detail').innerText();
  assert.match(detail, /event:/);
  assert.match(detail, /"body": "\{\\"action\\":\\"ping\\"\}"/);
  assert.match(detail, /result:/);
  assert.match(detail, /pong/);
  // The connection's own timeline: a click on it keeps only its events.
  await page.locator(`#connections tbody tr[data-connection-id="${id}"]`).click();
  await page.locator('#timeline-scope', { hasText: id }).waitFor();
  const others = await page.locator(`#timeline li[data-connection-id]:not([data-connection-id="${id}"])`).count();
  assert.equal(others, 0);
  client.close();
});

test('a broadcast sent from the page reaches real clients, to everyone or to a channel', async (t) => {
  const page = await openInspector(t);
  const everyone = await connect(unique('all'));
  const subscriber = await connect(unique('news'));
  await subscriber.ask({ action: 'subscribe', channels: ['news'] }, 'subscribed');

  const toAll = unique('to-all');
  await page.fill('#broadcast-channel', '');
  await page.fill('#broadcast-data', JSON.stringify({ type: 'note', text: toAll }));
  await page.click('#broadcast-form button');
  for (const client of [everyone, subscriber]) {
    await waitFor(() => client.messages.some((m) => m.includes(toAll)), { what: 'the broadcast', timeoutMs: 5000 });
  }
  await page.locator('#action-result', { hasText: '"status": 200' }).waitFor({ timeout: 2000 });

  const toNews = unique('to-news');
  await page.fill('#broadcast-channel', 'news');
  await page.fill('#broadcast-data', JSON.stringify({ type: 'note', text: toNews }));
  await page.click('#broadcast-form button');
  await waitFor(() => subscriber.messages.some((m) => m.includes(toNews)), { what: 'the channel broadcast' });
  await page.locator('#action-result', { hasText: '/broadcast/news' }).waitFor({ timeout: 2000 });
  await sleep(300);
  assert.ok(!everyone.messages.some((m) => m.includes(toNews)), 'a non-subscriber got the channel broadcast');
  // The HTTP API call and its report are on the timeline.
  await page.locator('#timeline li[data-type="http"]', { hasText: '/dev/broadcast/news' }).first().waitFor();
  everyone.close();
  subscriber.close();
});

test('send from the page reaches the one client as PostToConnection', async (t) => {
  const page = await openInspector(t);
  const client = await connect(unique('send'));
  const id = await client.id();
  const marker = unique('direct');
  await page.locator(`#connections tbody tr[data-connection-id="${id}"]`).click();
  assert.equal(await page.inputValue('#send-connection'), id);
  await page.fill('#send-data', JSON.stringify({ type: 'note', text: marker }));
  await page.click('#send-form button');
  await waitFor(() => client.messages.some((m) => m.includes(marker)), { what: 'the message' });
  await page.locator('#timeline li[data-type="management"]', { hasText: 'POST @connections  200' }).first().waitFor();
  client.close();
});

test('without the API token, an action is refused with 401 and nothing is delivered', async (t) => {
  const page = await openInspector(t);
  await page.fill('#api-token', '');
  const client = await connect(unique('nothing'));
  const marker = unique('refused');
  await page.fill('#broadcast-channel', '');
  await page.fill('#broadcast-data', JSON.stringify({ type: 'note', text: marker }));
  await page.click('#broadcast-form button');
  await page.locator('#action-result', { hasText: 'Authorization: Bearer' }).waitFor({ timeout: 2000 });
  await sleep(300);
  assert.ok(!client.messages.some((m) => m.includes(marker)), 'a broadcast without the token was delivered');
  client.close();
});

test('disconnect from the page closes the client with 1000', async (t) => {
  const page = await openInspector(t);
  const clientId = unique('bye');
  const client = await connect(clientId);
  const row = page.locator('#connections tbody tr', { hasText: clientId });
  await row.waitFor({ timeout: LISTED_WITHIN_MS });
  await row.locator('button[data-action="disconnect"]').click();
  const closed = await client.closed;
  assert.equal(closed.code, 1000);
  clients.delete(client);
  await row.waitFor({ state: 'detached', timeout: 2000 });
});

test("a token in the query never appears in the page's DOM or the feed", async (t) => {
  const page = await openInspector(t);
  const client = await connect(unique('secret'));
  const id = await client.id();
  const { token } = client;
  // The handshake, masked, and the $connect invocation's full event, opened.
  await page
    .locator(`#timeline li[data-type="handshake"][data-connection-id="${id}"]`, { hasText: 'token=***' })
    .waitFor({ timeout: 2000 });
  await page
    .locator(`#timeline li[data-type="invocation"][data-connection-id="${id}"]`, { hasText: '$connect' })
    .click();
  await page.locator('#detail', { hasText: '"token": "***"' }).waitFor({ timeout: 2000 });
  await page.locator(`#connections tbody tr[data-connection-id="${id}"]`).click();
  await sleep(300);

  const dom = await page.content();
  assert.ok(!dom.includes(token), 'the token is in the DOM');
  // No part of it either (its signature is the secret-bearing part).
  assert.ok(!dom.includes(token.split('.')[2]), 'the token signature is in the DOM');

  // The feed from the start of the ring, and every record in full.
  const base = `http://127.0.0.1:${gateway.port}`;
  const controller = new AbortController();
  const response = await fetch(`${base}/_inspector/feed?after=0`, { signal: controller.signal });
  const reader = response.body.getReader();
  let feed = '';
  const until = Date.now() + 1000;
  while (Date.now() < until) {
    const chunk = await Promise.race([reader.read(), sleep(300).then(() => null)]);
    if (chunk?.value) feed += Buffer.from(chunk.value).toString();
    if (chunk?.done) break;
  }
  controller.abort();
  assert.match(feed, /event: records/);
  assert.ok(feed.includes(id), 'the feed has the connection');
  assert.ok(!feed.includes(token.split('.')[2]), 'the token is in the feed');
  const events = await (await fetch(`${base}/_inspector/api/events`)).json();
  for (const record of events.records) {
    const full = await (await fetch(`${base}/_inspector/api/events/${record.seq}`)).text();
    assert.ok(!full.includes(token.split('.')[2]), `the token is in record ${record.seq}`);
  }
  client.close();
});

test('the routes and configuration are shown as loaded, the secrets masked', async (t) => {
  const page = await openInspector(t);
  await page.click('#config-panel summary');
  const routes = page.locator('#routes');
  await routes.locator('text=ws-default').waitFor();
  const text = await routes.innerText();
  assert.match(text, /\$connect/);
  assert.match(text, /POST\s+\/broadcast\/\{channel\}/);
  const settings = await page.locator('#settings').innerText();
  assert.match(settings, /"stage": "dev"/);
  assert.match(settings, /"apiToken": "\*\*\*"/);
  assert.ok(!(await page.content()).includes(API_TOKEN), 'the API token is in the DOM');
});

test('a cold start is marked on its invocation row, with its init time; the next invocation is warm', async (t) => {
  // A template's functions run in processes of their own (Node.js here): the first invocation
  // a process serves is its cold start.
  const functions = await startGateway({
    binary: process.env.LOCAL_GATEWAY_BIN ?? join(repoRoot, 'target', 'debug', 'local-gateway'),
    args: [
      '--template',
      join(repoRoot, 'tests', 'lambda-invoke', 'template.yaml'),
      '--parameter-overrides',
      'Runtime=nodejs20.x',
      'Code=node',
      '--node-modules',
      join(repoRoot, 'local-gateway', 'runtimes', 'node', 'node_modules'),
      '--hot-reload',
      'false',
    ],
  });
  t.after(() => functions.stop());
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  t.after(() => page.close());
  await page.goto(`http://127.0.0.1:${functions.port}/`);
  await page.locator('#feed-status.live').waitFor({ timeout: 5000 });
  for (const n of [1, 2]) {
    const url = `http://127.0.0.1:${functions.port}/2015-03-31/functions/AdderFunction/invocations`;
    const response = await fetch(url, { method: 'POST', body: JSON.stringify({ a: n, b: 1 }) });
    assert.equal(response.status, 200, await response.text());
  }
  const rows = page.locator('#timeline li[data-type="invocation"]', { hasText: 'AdderFunction' });
  await waitFor(async () => (await rows.count()) === 2, { what: 'two invocation rows' });
  // Newest first: the second invocation is warm, the first cold.
  assert.equal(await rows.nth(0).locator('.badge.cold').count(), 0);
  const badge = rows.nth(1).locator('.badge.cold');
  assert.match(await badge.innerText(), /^cold · init \d+ ms$/);
});
