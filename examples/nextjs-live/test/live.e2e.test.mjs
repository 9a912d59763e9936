// The Next.js example end to end, every part real: the local gateway started as `make run` starts
// it (infra/local-gateway.sh) on DynamoDB Local, with JWT authentication, an API token and
// history on `updates`; the built app under `next start`; the FastAPI publisher under uvicorn;
// pages in headless Chromium. Free ports only.
//
//   WS_BRIDGE_GATEWAY=infra/local-gateway.sh WS_BRIDGE_PYTHON=.venv/bin/python \
//     DYNAMODB_LOCAL_HOME=… node --test examples/nextjs-live/test/
//
// The app must be built (`make nextjs-example-check` runs npm ci and next build first).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { freePort, launchChromium, sleep, startGateway, waitFor } from '../../../clients/js/test/browser.mjs';
import { onDynamoDb, startDynamoDbLocal } from '../../../clients/js/test/dynamodb-local.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const exampleDir = path.resolve(here, '..');
const repoRoot = path.resolve(exampleDir, '../..');
const fromRoot = (p) => (path.isAbsolute(p) ? p : path.resolve(repoRoot, p));
const python = fromRoot(process.env.WS_BRIDGE_PYTHON ?? '.venv/bin/python');

// Bounds of waits for conditions, not expectations of speed.
const SHOWS_WITHIN_MS = 15_000;

/** The list is listening: the connection is open and holds the channel. */
const LISTENING = '#state[data-state="open"][data-subscribed="true"]';

const apiToken = randomBytes(16).toString('hex');
const jwtSecret = randomBytes(16).toString('hex');

/** Processes started here, each in a group of its own (`next start` forks its server). */
const groups = new Set();
process.on('exit', () => {
  for (const pid of groups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Start `command` in a process group of its own; its output is kept for failure messages. */
function start(name, command, args, env) {
  const child = spawn(command, args, {
    cwd: exampleDir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  groups.add(child.pid);
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk).slice(-50_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return {
    name,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        return;
      }
      const timer = setTimeout(() => process.kill(-child.pid, 'SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      groups.delete(child.pid);
    },
    exitCode: () => child.exitCode,
  };
}

/** Wait until `url` answers (any status) while `proc` runs. */
async function waitForHttp(url, proc) {
  await waitFor(
    async () => {
      if (proc.exitCode() !== null) throw new Error(`${proc.name} exited:\n${proc.output()}`);
      await fetch(url);
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 100, what: `${proc.name} at ${url}` },
  );
}

let ddb;
let gateway;
let app;
let publisher;
let browser;
let appUrl;
let publisherUrl;

/** The gateway's HTTP API, as a backend calls it. */
async function gatewayGet(route) {
  const response = await fetch(`${gateway.httpUrl}${route}`, { headers: { authorization: `Bearer ${apiToken}` } });
  const text = await response.text();
  assert.equal(response.status, 200, `${route}: ${text}`);
  return JSON.parse(text);
}
const connections = async () => (await gatewayGet('/connections/count')).count;
const subscribers = async () => (await gatewayGet('/connections/count?channel=updates')).count;

/** POST JSON, expecting 200. */
async function post(url, body) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  assert.equal(response.status, 200, `${url}: ${text}`);
  return JSON.parse(text);
}

/** A page at `/`, live; its uncaught errors and console errors are collected. */
async function openPage(t) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`uncaught: ${error}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()} (${message.location().url})`);
  });
  t.after(() => context.close());
  await page.goto(`${appUrl}/`);
  await page.waitForSelector(LISTENING, { timeout: SHOWS_WITHIN_MS });
  return { page, problems };
}

const shown = (page) => page.$$eval('#updates li', (items) => items.map((item) => item.textContent));

/** Wait until the page lists exactly `texts`. */
async function shows(page, texts) {
  await waitFor(async () => JSON.stringify(await shown(page)) === JSON.stringify(texts), {
    timeoutMs: SHOWS_WITHIN_MS,
    what: `the page to list ${JSON.stringify(texts)}`,
  }).catch(async (error) => {
    throw new Error(`${error.message}; it lists ${JSON.stringify(await shown(page))}`);
  });
}

/** Publish through the page's form: the server action. */
async function publishWithForm(page, text) {
  await page.fill('input[name="text"]', text);
  await page.click('button[type="submit"]');
  await page.waitForSelector('output[data-ok="true"]', { timeout: SHOWS_WITHIN_MS });
}

before(async () => {
  if (!existsSync(path.join(exampleDir, '.next', 'BUILD_ID'))) {
    throw new Error(`the app is not built: run next build in ${exampleDir} (make nextjs-example-check does)`);
  }
  ddb = await startDynamoDbLocal();
  const store = onDynamoDb(ddb.endpoint);
  gateway = await startGateway({
    args: store.args,
    env: {
      ...store.env,
      API_TOKEN: apiToken,
      JWT_SECRET: jwtSecret,
      HISTORY_CHANNELS: 'updates',
    },
  });
  const appPort = await freePort();
  appUrl = `http://127.0.0.1:${appPort}`;
  const settings = {
    WS_BRIDGE_HTTP_URL: gateway.httpUrl,
    WS_BRIDGE_WS_URL: gateway.wsUrl,
    WS_BRIDGE_TOKEN: apiToken,
    NEXT_TELEMETRY_DISABLED: '1',
  };
  app = start(
    'next start',
    path.join(exampleDir, 'node_modules', '.bin', 'next'),
    ['start', '-H', '127.0.0.1', '-p', String(appPort)],
    {
      ...settings,
      WS_BRIDGE_JWT_SECRET: jwtSecret,
    },
  );
  const publisherPort = await freePort();
  publisherUrl = `http://127.0.0.1:${publisherPort}`;
  publisher = start(
    'the FastAPI publisher',
    python,
    ['-m', 'uvicorn', 'fastapi_publisher:app', '--host', '127.0.0.1', '--port', String(publisherPort)],
    settings,
  );
  await waitForHttp(`${appUrl}/api/ws-token`, app);
  await waitForHttp(`${publisherUrl}/docs`, publisher);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await publisher?.stop();
  await app?.stop();
  await gateway?.stop();
  await ddb?.remove();
});

describe('the Next.js example', { concurrency: false }, () => {
  test('the server-rendered HTML holds the page, and no client-only failure', async () => {
    for (const route of ['/', '/about']) {
      const response = await fetch(`${appUrl}${route}`);
      assert.equal(response.status, 200, route);
      const html = await response.text();
      for (const failure of [
        'BAILOUT_TO_CLIENT_SIDE_RENDERING',
        'Application error',
        'is not defined',
        'Switched to client rendering',
      ]) {
        assert.ok(!html.includes(failure), `${route}: the HTML holds ${JSON.stringify(failure)}`);
      }
      assert.match(html, /<nav><a href="\/">Updates<\/a>/);
      if (route === '/') {
        assert.match(html, /<h1>Live updates<\/h1>/);
        // Rendered on the server before any connection: the list is there, empty.
        assert.match(
          html,
          /<p id="state" data-state="connecting" data-subscribed="false">connecting<\/p><ul id="updates"><\/ul>/,
        );
      }
    }
    assert.doesNotMatch(app.output(), /Error|WebSocket|window|document/, 'the server logged no failure');
  });

  test('two pages show, in order and once, what the server action, the route handler and FastAPI publish', async (t) => {
    const one = await openPage(t);
    const two = await openPage(t);
    await publishWithForm(one.page, 'from the server action');
    const report = await post(`${appUrl}/api/publish`, { text: 'from the route handler' });
    assert.equal(report.sent, 2);
    assert.equal(typeof report.seq, 'number');
    const fromPython = await post(`${publisherUrl}/updates`, { text: 'from FastAPI' });
    assert.equal(fromPython.sent, 2);
    const all = ['from the server action', 'from the route handler', 'from FastAPI'];
    await shows(one.page, all);
    await shows(two.page, all);
    assert.deepEqual([...one.problems, ...two.problems], []);
  });

  test('a gateway restart is survived: nothing missing, nothing shown twice', async (t) => {
    const one = await openPage(t);
    const two = await openPage(t);
    await post(`${appUrl}/api/publish`, { text: 'before' });
    await shows(one.page, ['before']);
    await shows(two.page, ['before']);

    await gateway.stop();
    await one.page.waitForSelector('#state[data-state="reconnecting"]', { timeout: SHOWS_WITHIN_MS });
    await gateway.start();
    // Published as soon as the gateway is back, whether or not the pages have reconnected yet:
    // they get it live or from the channel's history when they resume.
    const states = await Promise.all([one, two].map(({ page }) => page.$eval('#state', (p) => p.dataset.state)));
    await post(`${publisherUrl}/updates`, { text: 'while they reconnect' });
    t.diagnostic(`the pages were ${states.join(' and ')} when it was published`);
    for (const { page } of [one, two]) {
      await page.waitForSelector(LISTENING, { timeout: 60_000 });
    }
    await post(`${appUrl}/api/publish`, { text: 'after' });
    const all = ['before', 'while they reconnect', 'after'];
    await shows(one.page, all);
    await shows(two.page, all);
    await sleep(500);
    assert.deepEqual(await shown(one.page), all, 'nothing arrived twice, late');
    // The browser's own reports of the outage, which no script can silence: the failed handshakes,
    // and the client's question to the stopped gateway why one failed (`statusUrl`; asked again
    // only after backoff.maxMs). Nothing else.
    const outage = (/** @type {string} */ p) =>
      /WebSocket connection to .* failed/.test(p) ||
      (p.includes('ERR_CONNECTION_REFUSED') && p.includes(`(${gateway.httpUrl}/handshakes/`));
    const others = [...one.problems, ...two.problems].filter((p) => !outage(p));
    assert.deepEqual(others, []);
  });

  test('client-side navigation away and back keeps exactly one connection', async (t) => {
    await waitFor(async () => (await connections()) === 0, { what: 'the earlier pages to be gone' });
    const { page, problems } = await openPage(t);
    assert.equal(await connections(), 1);
    assert.equal(await subscribers(), 1);
    // A marker on window survives only client-side navigation (a full load would drop it).
    await page.evaluate(() => {
      window.__sameDocument = true;
    });

    await page.click('nav a[href="/about"]');
    await page.waitForSelector('#about');
    await waitFor(async () => (await subscribers()) === 0, { what: 'the channel to be left' });
    assert.equal(await connections(), 1);

    await page.click('nav a[href="/"]');
    await page.waitForSelector(LISTENING);
    await waitFor(async () => (await subscribers()) === 1, { what: 'the channel to be held again' });
    assert.equal(await connections(), 1);
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'client-side navigation');

    await post(`${appUrl}/api/publish`, { text: 'back again' });
    await shows(page, ['back again']);
    await sleep(300);
    assert.deepEqual(await shown(page), ['back again']);
    assert.equal(await connections(), 1);
    assert.deepEqual(problems, []);
  });
});
