// How the browser client lives through a bad minute, in headless Chromium against real gateways:
// a store outage at `$connect` (DynamoDB Local stopped for 10 s, then for 60 s: every `$connect`
// answers 500), a token the gateway no longer accepts (401), and the per-user limit (429). The
// React hook (in Node, with `ws`) and a channel with history go through the same outage.
// The tests of this file run concurrently: the outage is the long one (about 90 s; package.json
// runs this file with a longer test timeout than the others).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { httpJson, launchChromium, startGateway, startStaticServer, waitFor } from './browser.mjs';
import { startDynamoDbLocal } from './dynamodb-local.mjs';
import { mintToken } from './jwt.mjs';
import { events, inPage, openClient } from './page.mjs';

const SECRET = 'recovery-test-secret';

/** The browser's own report of a failed handshake: no script can prevent or silence it. */
const BROWSER_HANDSHAKE_REPORT = /^WebSocket connection to '[^']+' failed/;

/** @type {import('playwright-core').Browser} */
let browser;
/** @type {Awaited<ReturnType<typeof startStaticServer>>} */
let site;
/** What GET /token/<name> answers, by name; each test sets its own. */
/** @type {Map<string, (reason: string) => { token: string | null }>} */
const tokenHandlers = new Map();

before(async () => {
  const routes = /** @type {Record<string, any>} */ ({});
  for (const name of ['revoked', 'limited']) {
    routes[`/token/${name}`] = (
      /** @type {import('node:http').IncomingMessage} */ req,
      /** @type {import('node:http').ServerResponse} */ res,
    ) => {
      const reason = new URL(req.url ?? '/', 'http://x').searchParams.get('reason') ?? '';
      const handler = tokenHandlers.get(name) ?? (() => ({ token: null }));
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(handler(reason)));
    };
  }
  site = await startStaticServer({ routes });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await site?.close();
});

/**
 * A fresh page whose console errors, uncaught errors and requests are kept; closed after.
 * @param {import('node:test').TestContext} t
 */
async function newPage(t) {
  const context = await browser.newContext();
  const page = await context.newPage();
  /** @type {string[]} */
  const problems = [];
  /** @type {{ url: string, status: number }[]} */
  const responses = [];
  page.on('pageerror', (error) => problems.push(`uncaught: ${error}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !BROWSER_HANDSHAKE_REPORT.test(message.text())) {
      problems.push(`console: ${message.text()} (${message.location().url})`);
    }
  });
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
  page.on('response', (response) => responses.push({ url: response.url(), status: response.status() }));
  await page.goto(`${site.url}/`);
  t.after(() => context.close());
  return { page, problems, responses };
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

/**
 * The React hook in Node (jsdom document, `ws`), as react.test.mjs runs it.
 * @param {string} url
 */
async function mountReactHook(url) {
  const { JSDOM } = await import('jsdom');
  const dom = new JSDOM('<!doctype html><html><body><div id="root"></div></body></html>');
  Object.assign(globalThis, { window: dom.window, document: dom.window.document });
  if (!('navigator' in globalThis)) Object.assign(globalThis, { navigator: dom.window.navigator });
  const React = await import('react');
  const { createRoot } = await import('react-dom/client');
  const { useWsBridge } = await import('../src/react.js');
  /** @type {any[]} */
  const renders = [];
  /** @type {any[]} */
  const messages = [];
  function Probe() {
    const result = useWsBridge({
      url,
      channels: ['news'],
      keepAliveMs: 0,
      backoff: { initialMs: 200, maxMs: 4_000 },
      WebSocket,
      onMessage: (/** @type {any} */ message) => messages.push(message),
    });
    renders.push(result);
    return React.createElement('output', null, result.state);
  }
  const container = document.createElement('div');
  document.body.append(container);
  const root = createRoot(container);
  root.render(React.createElement(Probe));
  return { renders, messages, latest: () => renders[renders.length - 1], unmount: () => root.unmount() };
}

describe('the browser client through a bad minute', { concurrency: true }, () => {
  test(
    'DynamoDB Local stopped for 10 s, then for 60 s: every client is live again on its own, nothing lost on a channel with history, nothing in the console',
    { timeout: 240_000 },
    async (t) => {
      const ddb = await startDynamoDbLocal();
      t.after(() => ddb.remove());
      const gateway = await startGateway({
        args: ['--store', 'dynamodb', '--dynamodb-endpoint', ddb.endpoint, '--history-channels', 'post:*'],
        env: {
          AWS_ACCESS_KEY_ID: 'local',
          AWS_SECRET_ACCESS_KEY: 'local',
          AWS_REGION: 'us-east-1',
          // With the store stopped, fail at once instead of after the SDK's own retries.
          AWS_MAX_ATTEMPTS: '1',
        },
      });
      t.after(() => gateway.stop());
      const { page, problems, responses } = await newPage(t);
      const options = { url: gateway.wsUrl, statusUrl: gateway.httpUrl, keepAliveMs: 0 };
      const backoff = { initialMs: 200, maxMs: 4_000 };
      await openClient(page, 'c', { ...options, channels: ['news'], backoff });
      await openClient(page, 'h', { ...options, channels: ['post:1'], backoff });
      const react = await mountReactHook(gateway.wsUrl);
      t.after(() => react.unmount());
      await waitForEvent(page, 'c', (e) => e.type === 'open', "'open' (c)");
      await waitForEvent(page, 'h', (e) => e.type === 'open', "'open' (h)");
      await waitFor(() => react.latest()?.state === 'open', { what: 'the React hook open' });

      /** What the history channel was sent, in order; the page must see exactly this. */
      const posted = /** @type {number[]} */ ([]);
      const post = async () => {
        const n = posted.length + 1;
        const report = await httpJson('POST', `${gateway.httpUrl}/broadcast/post:1`, { type: 'post', n });
        assert.equal(report.status, 200, JSON.stringify(report.body));
        posted.push(n);
      };
      const historyReceived = async () =>
        (await events(page, 'h', 'message')).filter((e) => e.detail?.type === 'post').map((e) => e.detail.n);
      await post();
      await waitFor(async () => (await historyReceived()).length === 1, { what: 'the first history message' });

      for (const seconds of [10, 60]) {
        const ids = await Promise.all([
          inPage(page, 'c', 'return client.connectionId;'),
          inPage(page, 'h', 'return client.connectionId;'),
          react.latest().connectionId,
        ]);
        const outageStart = Date.now();
        await ddb.stop();
        // Every client needs a new handshake while the store is down.
        for (const id of ids) {
          const deleted = await httpJson('DELETE', `${gateway.httpUrl}/@connections/${encodeURIComponent(String(id))}`);
          assert.equal(deleted.status, 204);
        }
        // The outage lasts `seconds`, and the page's handshakes fail during it (500 at $connect).
        await waitFor(
          async () =>
            Date.now() - outageStart >= seconds * 1000 &&
            (await events(page, 'c', 'reconnecting')).filter((e) => e.at > outageStart).length >= 2,
          { timeoutMs: seconds * 1000 + 30_000, intervalMs: 250, what: `a ${seconds} s outage with failed handshakes` },
        );
        for (const name of ['c', 'h']) {
          assert.equal(await inPage(page, name, 'return client.state;'), 'reconnecting', `${name} still trying`);
        }
        assert.equal(react.latest().state, 'reconnecting');

        await ddb.start();
        // As soon as the store answers, messages the away clients must not lose.
        await waitFor(async () => (await httpJson('GET', `${gateway.httpUrl}/connections/count`)).status === 200, {
          timeoutMs: 30_000,
          what: 'the store answering again',
        });
        await post();
        await post();

        for (const name of ['c', 'h']) {
          await waitForEvent(
            page,
            name,
            (e) => e.type === 'open' && e.at > outageStart,
            `'open' again (${name})`,
            30_000,
          );
        }
        await waitFor(() => react.latest().state === 'open', { timeoutMs: 30_000, what: 'the React hook open again' });
        const marker = { type: 'after-outage', seconds };
        const report = await httpJson('POST', `${gateway.httpUrl}/broadcast/news`, marker);
        assert.equal(report.status, 200, JSON.stringify(report.body));
        await waitForEvent(
          page,
          'c',
          (e) => e.type === 'message' && e.detail?.seconds === seconds,
          'the next broadcast',
        );
        await waitFor(() => react.messages.some((m) => m?.seconds === seconds), { what: 'the broadcast in React' });
        await waitFor(async () => (await historyReceived()).length >= posted.length, {
          what: 'every history message',
        });
        assert.deepEqual(await historyReceived(), posted, 'each history message once, in order');
      }

      for (const name of ['c', 'h']) {
        const log = await events(page, name);
        assert.deepEqual(
          log.filter((e) => e.type === 'closed' || e.type === 'error' || e.type === 'unauthorized'),
          [],
        );
      }
      assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation').length), 1, 'no reload');
      assert.deepEqual(problems, [], 'nothing in the console but the browser reporting failed handshakes');
      // The client asked only the handshake-status route, and it always answered 200.
      const asked = responses.filter((r) => r.url.startsWith(gateway.httpUrl));
      assert.ok(asked.length > 0, 'the client asked why its handshakes failed');
      assert.ok(
        asked.every((r) => r.url.startsWith(`${gateway.httpUrl}/handshakes/`) && r.status === 200),
        JSON.stringify(asked),
      );
    },
  );

  test(
    'a revoked token (401 at $connect): the app is told, a handful of handshakes a minute at most, and no user stops it',
    { timeout: 150_000 },
    async (t) => {
      const gateway = await startGateway({ env: { JWT_SECRET: SECRET } });
      t.after(() => gateway.stop());
      const { page, problems } = await newPage(t);
      let noUser = false;
      /** @type {string[]} */
      const reasons = [];
      tokenHandlers.set('revoked', (reason) => {
        reasons.push(reason);
        // Signed with a key the gateway does not accept: refused as a revoked token would be.
        return { token: noUser ? null : mintToken('a-revoked-key', { sub: 'mallory' }) };
      });
      await openClient(
        page,
        'r',
        { url: gateway.wsUrl, statusUrl: gateway.httpUrl, keepAliveMs: 0 },
        { tokenPath: '/token/revoked' },
      );
      // Four refused handshakes: the first two at once (the second with a fresh token), then slower.
      const refused = await waitFor(
        async () => {
          const found = (await events(page, 'r', 'reconnecting')).filter((e) => e.detail.refused);
          return found.length >= 4 ? found : null;
        },
        { timeoutMs: 90_000, intervalMs: 250, what: 'four refused handshakes' },
      );
      const handshakes = (await events(page, 'r', 'connecting')).map((e) => e.at);
      assert.equal(handshakes.length, 4);
      assert.ok(refused.every((e) => e.detail.status === 401));
      // The schedule: then at least 10 s, then at least 20 s (default refusedMs 20 s): at most
      // four handshakes in any minute, and fewer after.
      assert.ok(handshakes[2] - handshakes[1] >= 10_000, `${handshakes}`);
      assert.ok(handshakes[3] - handshakes[2] >= 20_000, `${handshakes}`);
      const told = await events(page, 'r', 'unauthorized');
      assert.deepEqual(
        told.map((e) => [e.detail.status, e.detail.refusals]),
        [
          [401, 1],
          [401, 2],
          [401, 3],
          [401, 4],
        ],
      );
      assert.deepEqual(reasons, ['connect', 'refused', 'refused', 'refused']);
      assert.equal(await inPage(page, 'r', 'return client.state;'), 'reconnecting');

      // The app's clear signal: the user logged out, the provider has no token. ('online' cuts the
      // wait short.)
      noUser = true;
      await page.evaluate(() => window.dispatchEvent(new Event('online')));
      const closed = await waitForEvent(page, 'r', (e) => e.type === 'closed', "'closed'");
      assert.equal(closed.detail.byClient, false);
      assert.equal(closed.detail.error.code, 'HANDSHAKE_REFUSED');
      assert.equal(closed.detail.error.status, 401);
      assert.equal(
        (await events(page, 'r', 'connecting')).length,
        5,
        'the fifth attempt stopped at the token provider',
      );
      assert.deepEqual(problems, []);
    },
  );

  test('429 from the per-user limit: the client backs off and connects when the slot frees', async (t) => {
    const gateway = await startGateway({
      args: ['--max-connections-per-user', '1'],
      env: { JWT_SECRET: SECRET },
    });
    t.after(() => gateway.stop());
    const { page, problems } = await newPage(t);
    // Another tab of the same user holds the one slot.
    const holder = new WebSocket(`${gateway.wsUrl}?token=${mintToken(SECRET, { sub: 'ann' })}`);
    await new Promise((resolve, reject) => {
      holder.once('open', resolve);
      holder.once('error', reject);
    });
    tokenHandlers.set('limited', () => ({ token: mintToken(SECRET, { sub: 'ann', channels: ['news'] }) }));
    await openClient(
      page,
      'l',
      {
        url: gateway.wsUrl,
        statusUrl: gateway.httpUrl,
        channels: ['news'],
        keepAliveMs: 0,
        backoff: { initialMs: 200, maxMs: 1_000 },
      },
      { tokenPath: '/token/limited' },
    );
    await waitFor(async () => (await events(page, 'l', 'reconnecting')).length >= 3, {
      what: 'three handshakes refused with 429',
    });
    const waits = await events(page, 'l', 'reconnecting');
    assert.ok(
      waits.every((e) => e.detail.status === 429 && e.detail.refused === false),
      JSON.stringify(waits.map((e) => e.detail)),
    );
    assert.equal((await events(page, 'l', 'unauthorized')).length, 0);

    holder.close();
    await waitForEvent(page, 'l', (e) => e.type === 'open', "'open' once the slot is free", 15_000);
    const report = await httpJson('POST', `${gateway.httpUrl}/broadcast/news`, { type: 'welcome' });
    assert.equal(report.body.sent, 1);
    await waitForEvent(page, 'l', (e) => e.type === 'message' && e.detail?.type === 'welcome', 'the broadcast');
    assert.equal((await events(page, 'l', 'closed')).length, 0);
    assert.deepEqual(problems, []);
  });
});
