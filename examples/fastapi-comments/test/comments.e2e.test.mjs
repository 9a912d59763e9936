// End to end, every part real: the local gateway (JWT auth and API token on), the FastAPI app
// under uvicorn, and headless Chromium pages using the browser client.
//
//   WS_BRIDGE_GATEWAY=target/debug/local-gateway WS_BRIDGE_PYTHON=.venv/bin/python \
//     node --test examples/fastapi-comments/test/
//
// Relative paths are taken from the repository root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { launchChromium } from '../../../clients/js/test/browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const exampleDir = path.resolve(here, '..');
const repoRoot = path.resolve(here, '../../..');
const fromRoot = (p) => (path.isAbsolute(p) ? p : path.resolve(repoRoot, p));
const gatewayBinary = fromRoot(process.env.WS_BRIDGE_GATEWAY ?? 'target/debug/local-gateway');
const python = fromRoot(process.env.WS_BRIDGE_PYTHON ?? '.venv/bin/python');

// Bounds of waits for conditions, not expectations of speed: a loaded machine may be slow, and
// nothing here passes or fails by timing. What must not arrive is checked after a barrier.
const SHOWS_WITHIN_MS = 10000;

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve, reject) => server.listen(0, '127.0.0.1', resolve).on('error', reject));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// Whatever is still running when this process exits (after a crash too) is killed by PID.
const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Starts a process, keeping its output for the failure message. */
function start(name, command, args, env) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.on('exit', () => running.delete(child));
  child.output = '';
  const keep = (chunk) => {
    child.output = (child.output + chunk).slice(-20000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.label = name;
  return child;
}

async function waitForPort(port, child, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let spawnError;
  child.once('error', (error) => {
    spawnError = error;
  });
  while (Date.now() < deadline) {
    if (spawnError) throw new Error(`${child.label} could not start: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${child.label} exited (${child.exitCode ?? child.signalCode}) before listening:\n${child.output}`,
      );
    }
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => socket.end(() => resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(50);
  }
  throw new Error(`${child.label} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms:\n${child.output}`);
}

/** Stops a process we started, by its PID: SIGTERM, then SIGKILL after 5 s. */
async function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  process.kill(child.pid, 'SIGTERM');
  const killed = await Promise.race([child.exited, sleep(5000).then(() => null)]);
  if (killed === null) {
    process.kill(child.pid, 'SIGKILL');
    await child.exited;
  }
}

describe('the comments example', () => {
  let gateway;
  let startGatewayProcess; // (re)starts the gateway on its port, with the same secrets
  let gatewayDown = false; // while true, the browser's reports of failed handshakes are expected
  let app;
  let browser;
  let appUrl;
  let gatewayHttpUrl;
  let apiToken;
  const pageErrors = [];
  const pages = {};

  async function openPost(postId, name) {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(`${name}: ${error.message}`));
    page.on('console', (message) => {
      // The refused blank comment's 422 is expected; Chromium logs every non-2xx fetch. While the
      // gateway is stopped, the browser reports each failed handshake (no script can prevent
      // that), and the client's question why (GET /handshakes/{id}) gets no answer: it asks at
      // most once per backoff cap then.
      const expected =
        /status of 422/.test(message.text()) ||
        (gatewayDown && /^WebSocket connection to '[^']+' failed|ERR_CONNECTION_REFUSED/.test(message.text()));
      if (message.type() === 'error' && !expected) {
        pageErrors.push(`${name} console: ${message.text()} (${message.location().url})`);
      }
    });
    await page.goto(`${appUrl}/posts/${postId}`);
    await page.locator('#state[data-state="open"]').waitFor({ timeout: SHOWS_WITHIN_MS });
    // Barrier messages (see `barrier`) are kept by the page as they arrive.
    await page.evaluate(() => {
      window.barriers = [];
      window.wsBridgeComments.client.onMessage('barrier', (message) => window.barriers.push(message.n));
    });
    return page;
  }

  let barriers = 0;
  /**
   * Sends `page`'s connection a message of its own through the gateway and waits for it: the
   * gateway delivers a connection's messages in order, so whatever was sent to the page before
   * (a broadcast that returned, say) has arrived by then. What a page must not get is checked
   * after this, not after a pause.
   */
  async function barrier(page) {
    barriers += 1;
    const n = barriers;
    const id = await page.evaluate(() => window.wsBridgeComments.client.connectionId);
    const response = await fetch(`${gatewayHttpUrl}/connections/${encodeURIComponent(id)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'barrier', n }),
    });
    assert.equal(response.status, 200, await response.text());
    await page.waitForFunction((n) => window.barriers.includes(n), n, { timeout: SHOWS_WITHIN_MS });
  }

  async function postComment(postId, content) {
    const response = await fetch(`${appUrl}/api/posts/${postId}/comments`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ content }),
    });
    const body = await response.json();
    assert.equal(response.status, 201, JSON.stringify(body));
    return body;
  }

  const commentItem = (page, id) => page.locator(`#comments li[data-id="${id}"]`);
  const shownIds = (page) =>
    page.locator('#comments li').evaluateAll((items) => items.map((li) => Number(li.dataset.id)));

  let seeded;

  before(async () => {
    const gatewayPort = await freePort();
    const appPort = await freePort();
    apiToken = randomBytes(16).toString('hex');
    gatewayHttpUrl = `http://127.0.0.1:${gatewayPort}/dev`;
    const jwtSecret = randomBytes(32).toString('hex');
    startGatewayProcess = async () => {
      gateway = start('the gateway', gatewayBinary, ['--port', String(gatewayPort)], {
        API_TOKEN: apiToken,
        JWT_SECRET: jwtSecret,
        HISTORY_CHANNELS: 'post:*', // as run.sh starts it
        PRESENCE_CHANNELS: 'post:*', // as run.sh starts it
        PRESENCE_LEAVE_GRACE_SECONDS: '1', // short, so that a leave shows soon
        RUST_LOG: 'warn',
      });
      await waitForPort(gatewayPort, gateway);
    };
    await startGatewayProcess();
    app = start(
      'the app',
      python,
      ['-m', 'uvicorn', 'main:app', '--app-dir', exampleDir, '--host', '127.0.0.1', '--port', String(appPort)],
      {
        WS_BRIDGE_HTTP_URL: `http://127.0.0.1:${gatewayPort}/dev`,
        WS_BRIDGE_WS_URL: `ws://127.0.0.1:${gatewayPort}/dev`,
        WS_BRIDGE_TOKEN: apiToken,
        WS_BRIDGE_JWT_SECRET: jwtSecret,
      },
    );
    await waitForPort(appPort, app);
    appUrl = `http://127.0.0.1:${appPort}`;

    // Comments that exist before any page loads.
    seeded = [await postComment(42, 'first, before the pages'), await postComment(42, 'second, before the pages')];
    assert.equal(seeded[0].live.published, true);
    assert.equal(seeded[0].live.report.connectionCount, 0);

    browser = await launchChromium();
    pages.a = await openPost(42, 'post 42 (a)');
    pages.b = await openPost(42, 'post 42 (b)');
    pages.other = await openPost(7, 'post 7');
  });

  after(async () => {
    try {
      await browser?.close();
    } finally {
      await stop(app);
      await stop(gateway);
    }
    if (pageErrors.length) console.log('page errors:\n' + pageErrors.join('\n'));
  });

  test('a page shows the comments that existed before it loaded, and the live indicator', async () => {
    const ids = seeded.map((s) => s.comment.id);
    for (const page of [pages.a, pages.b]) {
      await commentItem(page, ids[1]).waitFor({ timeout: SHOWS_WITHIN_MS });
      assert.deepEqual(await shownIds(page), ids);
      assert.equal(await page.locator('#comment-count').textContent(), '2');
      assert.equal(await page.locator('#comment-heading').textContent(), '2 comments');
      assert.equal(await page.locator('#state').textContent(), 'live');
    }
    assert.deepEqual(await shownIds(pages.other), []);
    assert.equal(await pages.other.locator('#comment-heading').textContent(), '0 comments');
  });

  test('each post page shows who is viewing it; a visitor who leaves is gone after the grace period', async () => {
    const viewers = (page) => page.locator('#viewers');
    for (const page of [pages.a, pages.b]) {
      await page.locator('#viewers[data-count="2"]').waitFor({ timeout: SHOWS_WITHIN_MS });
      const text = await viewers(page).textContent();
      assert.match(text, /^Viewing now: guest-\w+( \(you\))?, guest-\w+( \(you\))?$/);
      assert.equal(text.match(/\(you\)/g)?.length, 1, text);
    }
    await pages.other.locator('#viewers[data-count="1"]').waitFor({ timeout: SHOWS_WITHIN_MS });
    // A third visitor comes and goes.
    const third = await openPost(42, 'post 42 (third visitor)');
    await pages.a.locator('#viewers[data-count="3"]').waitFor({ timeout: SHOWS_WITHIN_MS });
    await third.locator('#viewers[data-count="3"]').waitFor({ timeout: SHOWS_WITHIN_MS });
    await third.context().close();
    await pages.a.locator('#viewers[data-count="2"]').waitFor({ timeout: SHOWS_WITHIN_MS });
    await pages.b.locator('#viewers[data-count="2"]').waitFor({ timeout: SHOWS_WITHIN_MS });
  });

  test('a comment posted through the API shows live on both post-42 pages, never on post 7', async () => {
    const { comment, live } = await postComment(42, 'hello from the API <b>not bold</b>');
    assert.equal(live.published, true);
    assert.deepEqual(live.report, { connectionCount: 2, sent: 2, gone: [], failed: [] });
    await Promise.all(
      [pages.a, pages.b].map((page) => commentItem(page, comment.id).waitFor({ timeout: SHOWS_WITHIN_MS })),
    );
    for (const page of [pages.a, pages.b]) {
      const item = commentItem(page, comment.id);
      assert.equal(await item.locator('.content').textContent(), 'hello from the API <b>not bold</b>');
      assert.equal(await item.locator('b').count(), 0); // shown as text, not HTML
    }
    await barrier(pages.other);
    assert.equal(await commentItem(pages.other, comment.id).count(), 0);
    assert.deepEqual(await shownIds(pages.other), []);
  });

  test('a comment added through one page form shows on the other page, once on each', async () => {
    const text = `typed in page a ${Date.now()}`;
    await pages.a.locator('#content').fill(text);
    const [response] = await Promise.all([
      pages.a.waitForResponse((r) => r.url().endsWith('/api/posts/42/comments') && r.request().method() === 'POST'),
      pages.a.locator('#comment-form button').click(),
    ]);
    assert.equal(response.status(), 201);
    const { comment } = await response.json();
    assert.equal(comment.content, text);
    await commentItem(pages.b, comment.id).waitFor({ timeout: SHOWS_WITHIN_MS });
    await commentItem(pages.a, comment.id).waitFor({ timeout: SHOWS_WITHIN_MS });
    assert.equal(await pages.a.locator('#content').inputValue(), '');
    // It reached page a twice (its POST's answer and live): shown once.
    await Promise.all([pages.a, pages.b].map(barrier));
    for (const page of [pages.a, pages.b]) {
      assert.equal(await commentItem(page, comment.id).count(), 1);
      assert.equal(await page.locator('#comments li').count(), 4);
      assert.equal(await page.locator('#comment-count').textContent(), '4');
    }
    assert.match(await commentItem(pages.a, comment.id).locator('.meta').textContent(), /\(you\)/);
    assert.doesNotMatch(await commentItem(pages.b, comment.id).locator('.meta').textContent(), /\(you\)/);
    assert.deepEqual(await shownIds(pages.other), []);
  });

  test('a comment on post 7 reaches only the post-7 page', async () => {
    const { comment } = await postComment(7, 'only for post 7');
    await commentItem(pages.other, comment.id).waitFor({ timeout: SHOWS_WITHIN_MS });
    assert.equal(await pages.other.locator('#comment-heading').textContent(), '1 comment');
    await Promise.all([pages.a, pages.b].map(barrier));
    for (const page of [pages.a, pages.b]) assert.equal(await commentItem(page, comment.id).count(), 0);
  });

  test('a blank comment from the form is refused with a message and adds nothing', async () => {
    const before = await shownIds(pages.a);
    await pages.a.locator('#content').fill('   ');
    const [response] = await Promise.all([
      pages.a.waitForResponse((r) => r.url().endsWith('/api/posts/42/comments')),
      pages.a.locator('#comment-form button').click(),
    ]);
    assert.equal(response.status(), 422);
    await pages.a.locator('#form-status', { hasText: 'Not added' }).waitFor({ timeout: SHOWS_WITHIN_MS });
    await Promise.all([pages.a, pages.b].map(barrier));
    assert.deepEqual(await shownIds(pages.a), before);
    assert.deepEqual(await shownIds(pages.b), before);
  });

  test('a page opened later shows every earlier comment, in order', async () => {
    const { comments } = await (await fetch(`${appUrl}/api/posts/42/comments`)).json();
    const late = await openPost(42, 'post 42 (late)');
    try {
      await commentItem(late, comments.at(-1).id).waitFor({ timeout: SHOWS_WITHIN_MS });
      assert.deepEqual(
        await shownIds(late),
        comments.map((c) => c.id),
      );
    } finally {
      await late.context().close();
    }
  });

  test('comments posted while a page is disconnected all appear once it reconnects, in order, each once', async () => {
    const page = pages.a;
    const comments = () => page.evaluate(() => window.wsBridgeComments.arrivals);
    const before = (await comments()).length;
    // The page's next handshakes wait: its token requests are held until released.
    let release;
    const held = new Promise((resolve) => {
      release = resolve;
    });
    await page.route('**/api/token*', async (route) => {
      await held;
      await route.continue();
    });
    const id = await page.evaluate(() => window.wsBridgeComments.client.connectionId);
    const deleted = await fetch(`${gatewayHttpUrl}/@connections/${encodeURIComponent(id)}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${apiToken}` },
    });
    assert.equal(deleted.status, 204);
    await page.waitForFunction(() => window.wsBridgeComments.client.state !== 'open');
    const posted = [];
    for (let i = 0; i < 10; i += 1) {
      const { comment, live } = await postComment(42, `while page a is away ${i}`);
      assert.equal(live.report.sent, 1, 'only page b is connected');
      posted.push(comment.id);
    }
    await commentItem(pages.b, posted.at(-1)).waitFor({ timeout: SHOWS_WITHIN_MS });
    assert.equal(await commentItem(page, posted[0]).count(), 0, 'page a missed them live');
    release();
    await page.unrouteAll({ behavior: 'wait' }); // after the held requests went on
    await page.locator('#state[data-state="open"]').waitFor({ timeout: SHOWS_WITHIN_MS });
    await commentItem(page, posted.at(-1)).waitFor({ timeout: SHOWS_WITHIN_MS });
    await barrier(page);
    // They came through ws-bridge (the page does not reload its list on a reconnect), from the
    // gateway's history, in the order they were posted, each once.
    const arrived = (await comments()).slice(before);
    assert.deepEqual(
      arrived.map((a) => a.id),
      posted,
    );
    assert.ok(arrived.every((a) => a.replayed));
    assert.deepEqual(
      arrived.map((a) => a.seq - arrived[0].seq),
      posted.map((_, i) => i),
    );
    for (const commentId of posted) assert.equal(await commentItem(page, commentId).count(), 1);
    assert.deepEqual(await shownIds(page), await shownIds(pages.b));
  });

  test('after the gateway restarts, the pages reconnect and catch up on what they missed', async () => {
    gatewayDown = true;
    await stop(gateway);
    await Promise.all([pages.a, pages.b].map((page) => page.locator('#state[data-state="reconnecting"]').waitFor()));
    // Stored, but nobody could be told: the answer says so.
    const { comment, live } = await postComment(42, 'posted while the gateway was down');
    assert.equal(live.published, false);
    assert.ok(live.error);
    await startGatewayProcess();
    // The client's backoff is at most 30 s; a fresh token for each handshake.
    for (const page of [pages.a, pages.b, pages.other]) {
      await page.locator('#state[data-state="open"]').waitFor({ timeout: 40000 });
    }
    for (const page of [pages.a, pages.b]) await commentItem(page, comment.id).waitFor({ timeout: SHOWS_WITHIN_MS });
    await barrier(pages.other);
    assert.equal(await commentItem(pages.other, comment.id).count(), 0);
    gatewayDown = false;
    // And live again.
    const { comment: next, live: nextLive } = await postComment(42, 'live again');
    assert.equal(nextLive.report.sent, 2);
    await Promise.all(
      [pages.a, pages.b].map((page) => commentItem(page, next.id).waitFor({ timeout: SHOWS_WITHIN_MS })),
    );
  });

  test('no page reported an error', () => {
    assert.deepEqual(pageErrors, []);
  });
});
