// WsBridgeClient in headless Chromium against a real local-gateway process.
// Each test starts its own gateway; the page loads /src/ws-bridge.js from a tiny static server.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { httpJson, launchChromium, startGateway, startStaticServer, waitFor } from './browser.mjs';
import { mintToken } from './jwt.mjs';
import { events, inPage, openClient } from './page.mjs';

const SECRET = 'browser-test-secret';
const FAST = { backoff: { initialMs: 100, maxMs: 800 } };

/** @type {import('playwright-core').Browser} */
let browser;
/** @type {Awaited<ReturnType<typeof startStaticServer>>} */
let site;
/** What GET /token answers; each test sets it. */
let tokenHandler = () => ({ token: 'unset' });
let tokenCalls = 0;

before(async () => {
  site = await startStaticServer({
    routes: {
      '/token': (_req, res) => {
        tokenCalls += 1;
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify(tokenHandler()));
      },
    },
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await site?.close();
});

/**
 * A fresh page (fresh JS state) for one test, and the gateway it is given; both closed after.
 * @param {import('node:test').TestContext} t
 * @param {Parameters<typeof startGateway>[0]} [gatewayOptions]
 */
async function setUp(t, gatewayOptions) {
  const gateway = await startGateway(gatewayOptions);
  const context = await browser.newContext();
  const page = await context.newPage();
  /** @type {string[]} */
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  await page.goto(`${site.url}/`);
  tokenCalls = 0;
  t.after(async () => {
    await context.close();
    await gateway.stop();
    assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
  });
  return { gateway, page };
}

/**
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @param {(e: import('./page.mjs').LoggedEvent) => boolean} predicate
 * @param {string} what
 * @param {number} [timeoutMs]
 */
function waitForEvent(page, name, predicate, what, timeoutMs = 15_000) {
  return waitFor(async () => (await events(page, name)).find(predicate), { timeoutMs, what });
}

/** @param {string} httpUrl @param {string} [channel] */
async function count(httpUrl, channel) {
  const { body } = await httpJson('GET', `${httpUrl}/connections/count${channel ? `?channel=${channel}` : ''}`);
  return body.count;
}

describe('WsBridgeClient in Chromium', () => {
  test('receives broadcasts on its channels, and only application frames reach "message"', async (t) => {
    const { gateway, page } = await setUp(t);
    // The pongs the page received, counted from the frames (the client keeps them internal).
    let pongs = 0;
    page.on('websocket', (socket) =>
      socket.on('framereceived', ({ payload }) => {
        if (String(payload).includes('"pong"')) pongs += 1;
      }),
    );
    // A fast keep-alive: if pongs leaked to 'message' listeners this test would see them.
    await openClient(page, 'c', { url: gateway.wsUrl, channels: ['news'], keepAliveMs: 200, ...FAST });
    const open = await waitForEvent(page, 'c', (e) => e.type === 'open', "'open'");
    assert.match(open.detail.connectionId, /^\S+$/);
    assert.deepEqual(open.detail.channels, ['news']);
    // Subscribed before 'open' was reported.
    assert.equal(await count(gateway.httpUrl, 'news'), 1);

    const news = await httpJson('POST', `${gateway.httpUrl}/broadcast/news`, { type: 'news.item', n: 1 });
    assert.deepEqual(news.body, { connectionCount: 1, sent: 1, gone: [], failed: [] });
    await httpJson('POST', `${gateway.httpUrl}/broadcast/elsewhere`, { type: 'not-for-me' });
    await httpJson('POST', `${gateway.httpUrl}/broadcast`, { type: 'everyone' });

    const list = await inPage(page, 'c', "return client.subscribe(['post:42']);");
    assert.deepEqual([.../** @type {string[]} */ (list)].sort(), ['news', 'post:42']);
    await inPage(page, 'c', "window.comments = []; client.onMessage('comment', (m) => window.comments.push(m));");
    await httpJson('POST', `${gateway.httpUrl}/broadcast/post:42`, { type: 'comment', postId: 42 });
    await httpJson('POST', `${gateway.httpUrl}/connections/${encodeURIComponent(open.detail.connectionId)}`, {
      type: 'just-for-you',
    });

    await waitForEvent(
      page,
      'c',
      (e) => e.type === 'message' && e.detail.type === 'just-for-you',
      'the direct message',
    );
    const seen = pongs;
    await waitFor(() => pongs >= seen + 3, { what: 'three more keep-alive pongs' });
    const messages = (await events(page, 'c', 'message')).map((e) => e.detail);
    assert.deepEqual(messages, [
      { type: 'news.item', n: 1 },
      { type: 'everyone' },
      { type: 'comment', postId: 42 },
      { type: 'just-for-you' },
    ]);
    assert.deepEqual(await page.evaluate(() => /** @type {any} */ (window).comments), [
      { type: 'comment', postId: 42 },
    ]);
    assert.equal((await events(page, 'c', 'reconnecting')).length, 0);
  });

  test('after the gateway is stopped and started again on the same port, the page reconnects, re-subscribes and receives', async (t) => {
    const { gateway, page } = await setUp(t);
    await openClient(page, 'c', { url: gateway.wsUrl, channels: ['news'], keepAliveMs: 0, ...FAST });
    const first = await waitForEvent(page, 'c', (e) => e.type === 'open', "'open'");
    await inPage(page, 'c', "await client.subscribe(['post:42']);");

    await gateway.stop();
    await waitForEvent(page, 'c', (e) => e.type === 'reconnecting', "'reconnecting' after the gateway stopped");
    // Several handshakes fail while the gateway is down; the client keeps backing off.
    await waitFor(async () => (await events(page, 'c', 'reconnecting')).length >= 4, {
      what: 'four failed attempts while the gateway is down',
    });
    assert.equal(
      (await events(page, 'c', 'closed')).length,
      0,
      'the client must not give up on a gateway that is down',
    );
    assert.equal((await events(page, 'c', 'error')).length, 0);
    assert.equal(await inPage(page, 'c', 'return client.state;'), 'reconnecting');

    await gateway.start();
    const reopened = await waitForEvent(page, 'c', (e) => e.type === 'open' && e.at > first.at, "'open' again");
    assert.notEqual(reopened.detail.connectionId, first.detail.connectionId);
    assert.deepEqual([...reopened.detail.channels].sort(), ['news', 'post:42']);
    const stats = await httpJson('GET', `${gateway.httpUrl}/stats`);
    assert.deepEqual(stats.body.channels, [
      { name: 'news', subscribers: 1 },
      { name: 'post:42', subscribers: 1 },
    ]);

    const report = await httpJson('POST', `${gateway.httpUrl}/broadcast/post:42`, { type: 'after-restart' });
    assert.equal(report.body.sent, 1);
    await waitForEvent(page, 'c', (e) => e.type === 'message' && e.detail.type === 'after-restart', 'the broadcast');
    assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation').length), 1, 'no reload');
  });

  test('DeleteConnection from the backend leads to a reconnect with a new connection id, and messages flow again', async (t) => {
    const { gateway, page } = await setUp(t);
    await openClient(page, 'c', { url: gateway.wsUrl, channels: ['news'], keepAliveMs: 0, ...FAST });
    const first = await waitForEvent(page, 'c', (e) => e.type === 'open', "'open'");
    const id = first.detail.connectionId;

    const deleted = await httpJson('DELETE', `${gateway.httpUrl}/@connections/${encodeURIComponent(id)}`);
    assert.equal(deleted.status, 204);
    const lost = await waitForEvent(page, 'c', (e) => e.type === 'reconnecting', "'reconnecting'");
    assert.equal(lost.detail.refused, false);
    const reopened = await waitForEvent(
      page,
      'c',
      (e) => e.type === 'open' && e.detail.connectionId !== id,
      'a new connection',
    );
    assert.notEqual(reopened.detail.connectionId, id);
    assert.equal(await inPage(page, 'c', 'return client.connectionId;'), reopened.detail.connectionId);

    const report = await httpJson('POST', `${gateway.httpUrl}/broadcast/news`, { type: 'again' });
    assert.equal(report.body.sent, 1);
    await waitForEvent(page, 'c', (e) => e.type === 'message' && e.detail.type === 'again', 'the broadcast');
    // The old id is gone for good.
    const gone = await httpJson('POST', `${gateway.httpUrl}/connections/${encodeURIComponent(id)}`, { x: 1 });
    assert.equal(gone.status, 404);
  });

  test('keep-alive holds a connection past the idle timeout; without it the connection is closed and reconnects', async (t) => {
    const { gateway, page } = await setUp(t, { args: ['--idle-timeout-secs', '3'] });
    await openClient(page, 'kept', { url: gateway.wsUrl, keepAliveMs: 1000, ...FAST });
    await openClient(page, 'idle', { url: gateway.wsUrl, keepAliveMs: 0, ...FAST });
    const kept = await waitForEvent(page, 'kept', (e) => e.type === 'open', "'open' (kept)");
    await waitForEvent(page, 'idle', (e) => e.type === 'open', "'open' (idle)");

    // The control: the gateway's idle timeout (3 s) closes the idle one, twice; the kept one
    // was open all that time.
    await waitFor(async () => (await events(page, 'idle', 'open')).length >= 3, {
      timeoutMs: 30_000,
      what: 'the idle client closed by the idle timeout twice',
    });

    // With keep-alive: the same connection all along.
    assert.deepEqual(
      (await events(page, 'kept')).map((e) => e.type),
      ['connecting', 'open'],
    );
    assert.equal(await inPage(page, 'kept', 'return client.connectionId;'), kept.detail.connectionId);
    assert.equal(await inPage(page, 'kept', 'return client.state;'), 'open');
    // The control: the gateway's idle timeout closes it (1001 Going away) and it reconnects.
    const idleLost = await events(page, 'idle', 'reconnecting');
    assert.ok(idleLost.length >= 1, 'the idle connection was never closed: the idle timeout did not apply');
    assert.equal(idleLost[0].detail.code, 1001);
    assert.ok((await events(page, 'idle', 'open')).length >= 2, 'the idle client reconnected');
  });

  test('a token refused as expired (401, learnt through statusUrl) is replaced by a fresh one from the provider at once', async (t) => {
    const { gateway, page } = await setUp(t, { env: { JWT_SECRET: SECRET, JWT_LEEWAY_SECS: '0' } });
    /** @type {string[]} */
    const issued = [];
    tokenHandler = () => {
      const expired = issued.length === 0;
      const token = mintToken(SECRET, { sub: 'alice' }, { expiresIn: expired ? -60 : 300 });
      issued.push(token);
      return { token };
    };
    await openClient(
      page,
      'c',
      { url: gateway.wsUrl, statusUrl: gateway.httpUrl, channels: ['news'], keepAliveMs: 0, ...FAST },
      { tokenPath: '/token' },
    );
    const open = await waitForEvent(page, 'c', (e) => e.type === 'open', "'open'");
    assert.match(open.detail.connectionId, /^\S+$/);
    assert.equal(tokenCalls, 2);
    // The client learnt the 401 from the HTTP API, and told the app.
    const told = await events(page, 'c', 'unauthorized');
    assert.deepEqual(
      told.map((e) => [e.detail.status, e.detail.refusals]),
      [[401, 1]],
    );
    const connecting = await events(page, 'c', 'connecting');
    assert.deepEqual(
      connecting.map((e) => e.detail.reason),
      ['connect', 'refused'],
    );
    const refused = await events(page, 'c', 'reconnecting');
    assert.equal(refused.length, 1);
    assert.equal(refused[0].detail.refused, true);
    assert.equal((await events(page, 'c', 'error')).length, 0);
    assert.equal(await count(gateway.httpUrl, 'news'), 1);
  });

  test('a reconnect after the token expired asks the provider for a fresh token', async (t) => {
    const { gateway, page } = await setUp(t, { env: { JWT_SECRET: SECRET, JWT_LEEWAY_SECS: '0' } });
    /** @type {string[]} */
    const issued = [];
    tokenHandler = () => {
      // Valid for 2 s: enough for the handshake, expired by the time of the reconnect.
      const token = mintToken(SECRET, { sub: 'bob', channels: ['news'] }, { expiresIn: 2 });
      issued.push(token);
      return { token };
    };
    await openClient(
      page,
      'c',
      { url: gateway.wsUrl, channels: ['news'], keepAliveMs: 0, ...FAST },
      { tokenPath: '/token' },
    );
    const first = await waitForEvent(page, 'c', (e) => e.type === 'open', "'open'");
    assert.equal(tokenCalls, 1);

    // Wait until the first token is refused by the gateway (checked from Node with `ws`).
    const { default: WebSocket } = await import('ws');
    await waitFor(
      () =>
        new Promise((resolve) => {
          const probe = new WebSocket(`${gateway.wsUrl}?token=${issued[0]}`);
          probe.on('open', () => {
            probe.close();
            resolve(false);
          });
          probe.on('error', (error) => resolve(/401/.test(error.message)));
        }),
      { timeoutMs: 10_000, intervalMs: 250, what: 'the first token to expire' },
    );
    // (connections from the probe that opened were closed again)
    await waitFor(async () => (await count(gateway.httpUrl)) === 1, { what: 'only the page connected' });

    await httpJson('DELETE', `${gateway.httpUrl}/@connections/${encodeURIComponent(first.detail.connectionId)}`);
    const reopened = await waitForEvent(
      page,
      'c',
      (e) => e.type === 'open' && e.detail.connectionId !== first.detail.connectionId,
      'the reconnect',
    );
    assert.notEqual(reopened.detail.connectionId, first.detail.connectionId);
    assert.equal(tokenCalls, 2, 'one new token for the reconnect');
    assert.notEqual(issued[1], issued[0]);
    // The fresh token was accepted at once: no refusal on the way.
    assert.ok((await events(page, 'c', 'reconnecting')).every((e) => e.detail.refused === false));
    assert.equal((await events(page, 'c', 'error')).length, 0);
    const report = await httpJson('POST', `${gateway.httpUrl}/broadcast/news`, { type: 'fresh' });
    assert.equal(report.body.sent, 1);
  });

  test('without statusUrl a browser cannot tell a refusal from an outage: it backs off and connects once a token is accepted', async (t) => {
    const { gateway, page } = await setUp(t, { env: { JWT_SECRET: SECRET } });
    let calls = 0;
    tokenHandler = () => {
      calls += 1;
      // Three refused tokens, then a good one.
      return { token: mintToken(calls <= 3 ? 'not-the-secret' : SECRET, { sub: 'mallory' }) };
    };
    await openClient(page, 'c', { url: gateway.wsUrl, keepAliveMs: 0, ...FAST }, { tokenPath: '/token' });
    await waitForEvent(page, 'c', (e) => e.type === 'open', "'open' with the fourth token", 30_000);
    const failed = await events(page, 'c', 'reconnecting');
    assert.equal(failed.length, 3);
    assert.ok(failed.every((e) => e.detail.status === null && e.detail.refused === false));
    assert.deepEqual(
      (await events(page, 'c', 'connecting')).map((e) => e.detail.reason),
      ['connect', 'reconnect', 'reconnect', 'reconnect'],
    );
    assert.equal((await events(page, 'c', 'error')).length, 0);
    assert.equal((await events(page, 'c', 'unauthorized')).length, 0);
    assert.equal((await events(page, 'c', 'closed')).length, 0);
  });

  test("the browser's 'online' event cuts a long backoff short", async (t) => {
    const { gateway, page } = await setUp(t);
    // Delays of up to 60 s: without the 'online' handling the reconnect would take that long.
    await openClient(page, 'c', { url: gateway.wsUrl, keepAliveMs: 0, backoff: { initialMs: 60_000, maxMs: 60_000 } });
    const first = await waitForEvent(page, 'c', (e) => e.type === 'open', "'open'");
    await gateway.stop();
    // (a drawn delay under 10 s may come first; the client then simply tries again)
    const waiting = await waitForEvent(
      page,
      'c',
      (e) => e.type === 'reconnecting' && e.detail.delayMs >= 10_000,
      'a reconnect delay of at least 10 s',
      120_000,
    );
    await gateway.start();
    const before = (await events(page, 'c', 'connecting')).length;
    await page.evaluate(() => window.dispatchEvent(new Event('online')));
    const reopened = await waitForEvent(
      page,
      'c',
      (e) => e.type === 'open' && e.at > first.at,
      "'open' soon after 'online'",
      5_000,
    );
    assert.ok(reopened.at - waiting.at < waiting.detail.delayMs, 'reconnected before the backoff delay ran out');
    assert.equal((await events(page, 'c', 'connecting')).length, before + 1);
  });

  test('the example page (examples/browser.html) connects, shows broadcasts and its state', async (t) => {
    const { gateway, page } = await setUp(t);
    await page.goto(`${site.url}/examples/browser.html?gateway=${encodeURIComponent(gateway.wsUrl)}`);
    await page.locator('#state', { hasText: 'open' }).waitFor({ timeout: 15_000 });
    await httpJson('POST', `${gateway.httpUrl}/broadcast/news`, { type: 'headline', text: 'hello' });
    await page.locator('#log li').first().waitFor({ timeout: 15_000 });
    assert.deepEqual(await page.locator('#log li').allTextContents(), ['{"type":"headline","text":"hello"}']);
    const id = await page.locator('#connection').textContent();
    await httpJson('DELETE', `${gateway.httpUrl}/@connections/${encodeURIComponent(String(id))}`);
    await waitFor(
      async () =>
        (await page.locator('#connection').textContent()) !== id &&
        (await page.locator('#state').textContent()) === 'open',
      {
        what: 'the page to show a new connection',
      },
    );
  });

  test('close() closes for good: no reconnect, also when called while reconnecting', async (t) => {
    const { gateway, page } = await setUp(t);
    await openClient(page, 'a', { url: gateway.wsUrl, channels: ['news'], keepAliveMs: 500, ...FAST });
    await waitForEvent(page, 'a', (e) => e.type === 'open', "'open'");
    assert.equal(await count(gateway.httpUrl), 1);
    await inPage(page, 'a', 'client.close();');
    const closed = await waitForEvent(page, 'a', (e) => e.type === 'closed', "'closed'");
    assert.equal(closed.detail.byClient, true);
    await waitFor(async () => (await count(gateway.httpUrl)) === 0, { what: 'the gateway to see the close' });

    // A second client, closed while it waits to reconnect.
    await openClient(page, 'b', { url: gateway.wsUrl, keepAliveMs: 0, backoff: { initialMs: 300, maxMs: 300 } });
    await waitForEvent(page, 'b', (e) => e.type === 'open', "'open' (b)");
    await gateway.stop();
    await waitForEvent(page, 'b', (e) => e.type === 'reconnecting', "'reconnecting' (b)");
    await inPage(page, 'b', 'client.close();');
    // The control, with b's schedule, made after b was closed: had b's retry not been cancelled,
    // b would have tried again before the control's first retry.
    await openClient(page, 'control', { url: gateway.wsUrl, keepAliveMs: 0, backoff: { initialMs: 300, maxMs: 300 } });
    await waitForEvent(page, 'control', (e) => e.type === 'reconnecting', "'reconnecting' (control)");
    await gateway.start();
    await waitForEvent(page, 'control', (e) => e.type === 'open', "'open' (control)");
    await waitFor(async () => (await count(gateway.httpUrl)) === 1, { what: 'the control connected' });
    assert.equal(await count(gateway.httpUrl), 1, 'nothing but the control reconnected');
    for (const name of ['a', 'b']) {
      const log = await events(page, name);
      const closedAt = log.findIndex((e) => e.type === 'closed');
      assert.ok(closedAt >= 0);
      assert.deepEqual(
        log.slice(closedAt + 1).filter((e) => e.type !== 'message'),
        [],
        `${name}: events after close()`,
      );
    }
  });
});
