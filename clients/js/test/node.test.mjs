// WsBridgeClient in Node with the `ws` package, against a real local-gateway process.
// Here a refused handshake's HTTP status is visible ("Unexpected server response: 401").

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import { WsBridgeClient, WsBridgeError } from '../src/ws-bridge.js';
import { freePort, httpJson, sleep, startGateway, waitFor } from './browser.mjs';
import { mintToken } from './jwt.mjs';

const SECRET = 'node-test-secret';
const FAST = { backoff: { initialMs: 100, maxMs: 800 } };

/**
 * A client whose every event is recorded; closed after the test.
 * @param {import('node:test').TestContext} t
 * @param {import('../src/ws-bridge.js').WsBridgeOptions} options
 */
function recorded(t, options) {
  const client = new WsBridgeClient({ WebSocket, keepAliveMs: 0, ...FAST, ...options });
  /** @type {{ type: string, detail: any, state: string }[]} */
  const log = [];
  for (const type of ['connecting', 'open', 'reconnecting', 'closed', 'error', 'message']) {
    client.on(/** @type {any} */ (type), (detail) => log.push({ type, detail, state: client.state }));
  }
  t.after(() => client.close());
  /** @param {string} type */
  const of = (type) => log.filter((e) => e.type === type);
  return { client, log, of };
}

/** `ws` counting the pongs its sockets receive, so a test waits for them rather than for time. */
function countingPongs() {
  let pongs = 0;
  class CountingWebSocket extends WebSocket {
    /** @param {string} url */
    constructor(url) {
      super(url);
      this.on('message', (data) => {
        if (String(data).includes('"type":"pong"')) pongs += 1;
      });
    }
  }
  return { CountingWebSocket, pongs: () => pongs };
}

/**
 * @param {import('node:test').TestContext} t
 * @param {Parameters<typeof startGateway>[0]} [options]
 */
async function gatewayFor(t, options) {
  const gateway = await startGateway(options);
  t.after(() => gateway.stop());
  return gateway;
}

/** @param {string} httpUrl @param {string} [channel] */
async function count(httpUrl, channel) {
  const { body } = await httpJson('GET', `${httpUrl}/connections/count${channel ? `?channel=${channel}` : ''}`);
  return body.count;
}

/** A raw `ws` connection, open. @param {string} url */
function rawSocket(url) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * A TCP proxy to the gateway whose paths can go dead without closing anything, as a broken
 * network path does: `freeze()` drops every byte of the connections open now (new ones work);
 * `blackhole = true` accepts new connections and drops their bytes.
 * @param {import('node:test').TestContext} t
 * @param {number} port
 */
async function deadPathProxy(t, port) {
  /** @type {{ downstream: net.Socket, upstream: net.Socket, dead: boolean }[]} */
  const pairs = [];
  const proxy = {
    wsUrl: '',
    blackhole: false,
    freeze() {
      for (const pair of pairs) pair.dead = true;
    },
  };
  const server = net.createServer((downstream) => {
    const upstream = net.connect(port, '127.0.0.1');
    const pair = { downstream, upstream, dead: proxy.blackhole };
    pairs.push(pair);
    downstream.on('data', (chunk) => pair.dead || upstream.write(chunk));
    upstream.on('data', (chunk) => pair.dead || downstream.write(chunk));
    downstream.on('error', () => upstream.destroy());
    upstream.on('error', () => downstream.destroy());
    downstream.on('close', () => upstream.destroy());
    upstream.on('close', () => downstream.destroy());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
  t.after(() => {
    for (const pair of pairs) {
      pair.downstream.destroy();
      pair.upstream.destroy();
    }
    server.close();
  });
  proxy.wsUrl = `ws://127.0.0.1:${/** @type {net.AddressInfo} */ (server.address()).port}/dev`;
  return proxy;
}

describe('WsBridgeClient in Node with ws: refused handshakes', () => {
  test('401: one retry with a fresh token, then an error with the status, state closed, no more handshakes', async (t) => {
    const gateway = await gatewayFor(t, { env: { JWT_SECRET: SECRET } });
    /** @type {string[]} */
    const reasons = [];
    const { client, of } = recorded(t, {
      url: gateway.wsUrl,
      token: ({ reason }) => {
        reasons.push(reason);
        return 'not-a-jwt';
      },
    });
    await waitFor(() => of('closed').length === 1, { what: "'closed'" });
    assert.deepEqual(reasons, ['connect', 'refused']);
    const [retry] = of('reconnecting');
    assert.equal(retry.detail.status, 401);
    assert.equal(retry.detail.refused, true);
    const [error] = of('error');
    assert.equal(error.detail.kind, 'fatal');
    assert.equal(error.detail.status, 401);
    assert.ok(error.detail.error instanceof WsBridgeError);
    assert.equal(error.detail.error.code, 'HANDSHAKE_REFUSED');
    assert.match(error.detail.message, /HTTP 401/);
    assert.equal(of('closed')[0].detail.byClient, false);
    assert.equal(client.state, 'closed');

    await sleep(2_000);
    assert.deepEqual(reasons, ['connect', 'refused'], 'no handshakes after giving up');
    await assert.rejects(client.publish('news', {}), { code: 'CLOSED' });
    assert.throws(() => client.send({ action: 'ping' }), { code: 'CLOSED' });
  });

  test('403 (a channel the token does not grant, in the URL): one retry, then stop', async (t) => {
    const gateway = await gatewayFor(t, { env: { JWT_SECRET: SECRET } });
    let calls = 0;
    const { client, of } = recorded(t, {
      url: `${gateway.wsUrl}?channels=secret`,
      token: async () => {
        calls += 1;
        return mintToken(SECRET, { sub: 'eve', channels: ['news'] });
      },
    });
    await waitFor(() => client.state === 'closed', { what: 'the client to stop' });
    assert.equal(calls, 2);
    assert.equal(of('error')[0].detail.status, 403);
    await sleep(1_000);
    assert.equal(calls, 2);
  });

  test('a retry that succeeds resets the refusal count: a later refusal gets its own retry', async (t) => {
    const gateway = await gatewayFor(t, { env: { JWT_SECRET: SECRET } });
    // bad, good, (connection deleted) bad, good
    const script = ['bad', 'good', 'bad', 'good'];
    let calls = 0;
    const { client, of } = recorded(t, {
      url: gateway.wsUrl,
      token: () => (script[calls++] === 'good' ? mintToken(SECRET, { sub: 'carol' }) : 'bad'),
    });
    await waitFor(() => client.state === 'open', { what: "'open'" });
    const id = client.connectionId;
    await httpJson('DELETE', `${gateway.httpUrl}/@connections/${encodeURIComponent(String(id))}`);
    await waitFor(() => of('open').length === 2, { what: "'open' again" });
    assert.equal(calls, 4);
    assert.equal(of('error').length, 0);
    assert.notEqual(client.connectionId, id);
  });

  test('a held channel the new token no longer grants is dropped with an error event; the others are re-subscribed', async (t) => {
    const gateway = await gatewayFor(t, { env: { JWT_SECRET: SECRET } });
    let grants = ['news', 'sports'];
    const { client, of } = recorded(t, {
      url: gateway.wsUrl,
      channels: ['news', 'sports'],
      token: () => mintToken(SECRET, { sub: 'frank', channels: grants }),
    });
    await waitFor(() => client.state === 'open', { what: "'open'" });
    assert.deepEqual(client.channels, ['news', 'sports']);

    grants = ['news'];
    await httpJson('DELETE', `${gateway.httpUrl}/@connections/${encodeURIComponent(String(client.connectionId))}`);
    await waitFor(() => of('open').length === 2, { what: "'open' again" });
    const [error] = of('error');
    assert.equal(error.detail.kind, 'subscribe');
    assert.equal(error.detail.channel, 'sports');
    assert.match(error.detail.message, /sports/);
    assert.deepEqual(of('open')[1].detail.channels, ['news']);
    assert.deepEqual(client.channels, ['news']);
    assert.equal(await count(gateway.httpUrl, 'news'), 1);
    assert.equal(await count(gateway.httpUrl, 'sports'), 0);
  });

  test('429 (too many connections for the user) backs off and connects once a slot is free', async (t) => {
    const gateway = await gatewayFor(t, { env: { JWT_SECRET: SECRET, MAX_CONNECTIONS_PER_USER: '1' } });
    const holder = /** @type {WebSocket} */ (
      await rawSocket(`${gateway.wsUrl}?token=${mintToken(SECRET, { sub: 'dave' })}`)
    );
    let calls = 0;
    const { client, of } = recorded(t, {
      url: gateway.wsUrl,
      backoff: { initialMs: 50, maxMs: 400 },
      token: () => {
        calls += 1;
        return mintToken(SECRET, { sub: 'dave' });
      },
    });
    await waitFor(() => of('reconnecting').length >= 4, { what: 'four refused attempts' });
    assert.ok(of('reconnecting').every((e) => e.detail.status === 429 && e.detail.refused === false));
    assert.equal(of('error').length, 0, '429 is not a reason to give up');
    assert.equal(client.state, 'reconnecting');
    // Capped exponential: every delay is within its step's ceiling and the cap.
    for (const { detail } of of('reconnecting')) {
      assert.ok(
        detail.delayMs >= 0 && detail.delayMs <= Math.min(400, 50 * 2 ** detail.attempt),
        JSON.stringify(detail),
      );
    }
    assert.deepEqual(
      of('reconnecting').map((e) => e.detail.attempt),
      of('reconnecting').map((_, i) => i),
      'the backoff step grows with each refusal',
    );

    holder.close();
    await waitFor(() => client.state === 'open', { what: "'open' after the slot was freed" });
    assert.ok(calls >= 5);
  });
});

describe('WsBridgeClient in Node with ws: connection life', () => {
  test('a gateway that is not there yet: backs off (no error), connects when it appears', async (t) => {
    const port = await freePort();
    const { client, of } = recorded(t, { url: `ws://127.0.0.1:${port}/dev`, channels: ['news'] });
    await waitFor(() => of('reconnecting').length >= 3, { what: 'three failed attempts' });
    assert.ok(of('reconnecting').every((e) => e.detail.refused === false && e.detail.status === null));
    assert.equal(of('error').length, 0);
    const gateway = await gatewayFor(t, { port });
    await waitFor(() => client.state === 'open', { what: "'open'" });
    assert.equal(await count(gateway.httpUrl, 'news'), 1);
  });

  test("'open' comes after hello and the re-subscribe: the server has the channels when 'open' fires", async (t) => {
    const gateway = await gatewayFor(t);
    /** @type {Promise<number>[]} */
    const countsAtOpen = [];
    /** @type {(string | null)[]} */
    const idsAtOpen = [];
    const { client } = recorded(t, { url: gateway.wsUrl, channels: ['news', 'post:42'] });
    client.on('open', ({ connectionId }) => {
      idsAtOpen.push(connectionId);
      countsAtOpen.push(count(gateway.httpUrl, 'post:42'));
    });
    await waitFor(() => client.state === 'open', { what: "'open'" });
    await client.subscribe('sports');
    await httpJson('DELETE', `${gateway.httpUrl}/@connections/${encodeURIComponent(String(client.connectionId))}`);
    await waitFor(() => idsAtOpen.length === 2 && client.state === 'open', { what: "'open' again" });
    assert.deepEqual(await Promise.all(countsAtOpen), [1, 1]);
    assert.equal(typeof idsAtOpen[0], 'string');
    assert.notEqual(idsAtOpen[0], idsAtOpen[1]);
    assert.deepEqual(client.channels.sort(), ['news', 'post:42', 'sports']);
    assert.equal(await count(gateway.httpUrl, 'sports'), 1);
  });

  test('a connection that stops answering (half-open) is detected by the missing pong and replaced', async (t) => {
    const gateway = await gatewayFor(t);
    const proxy = await deadPathProxy(t, gateway.port);
    const { CountingWebSocket, pongs } = countingPongs();
    const { client, of } = recorded(t, {
      url: proxy.wsUrl,
      keepAliveMs: 300,
      pongTimeoutMs: 500,
      WebSocket: CountingWebSocket,
    });
    await waitFor(() => client.state === 'open', { what: "'open'" });
    await waitFor(() => pongs() >= 3, { what: 'three keep-alive pongs' });
    assert.equal(of('reconnecting').length, 0, 'pongs arrive while the path works');

    proxy.freeze();
    const lost = await waitFor(() => of('reconnecting')[0], { what: 'the dead connection to be noticed' });
    assert.equal(lost.detail.code, 4000);
    assert.match(lost.detail.reason, /no pong/);
    await waitFor(() => of('open').length === 2, { what: 'a new connection' });
  });

  test('the maximum connection duration (2 hours on AWS, 2 s here) is a close like any other: reconnect, re-subscribe', async (t) => {
    const gateway = await gatewayFor(t, { args: ['--max-connection-secs', '2'] });
    const { client, of } = recorded(t, { url: gateway.wsUrl, channels: ['news'], keepAliveMs: 500 });
    await waitFor(() => client.state === 'open', { what: "'open'" });
    const first = client.connectionId;
    const lost = await waitFor(() => of('reconnecting')[0], { what: 'the close at the maximum duration' });
    assert.equal(lost.detail.code, 1001);
    await waitFor(() => client.state === 'open' && client.connectionId !== first, { what: 'a new connection' });
    assert.equal(await count(gateway.httpUrl, 'news'), 1);
    assert.equal(of('error').length, 0);
  });

  test('a handshake that never completes times out and is retried', async (t) => {
    const gateway = await gatewayFor(t);
    const proxy = await deadPathProxy(t, gateway.port);
    proxy.blackhole = true;
    const { client, of } = recorded(t, { url: proxy.wsUrl, connectTimeoutMs: 500 });
    const timedOut = await waitFor(() => of('reconnecting')[0], { what: 'the handshake to time out' });
    assert.match(timedOut.detail.reason, /timed out/);
    assert.equal(timedOut.detail.refused, false);
    assert.equal(client.state, 'reconnecting');
    proxy.blackhole = false;
    await waitFor(() => client.state === 'open', { what: "'open'" });
    assert.equal(of('error').length, 0);
  });

  test('a request in flight when the connection is lost: a publish is rejected, a subscribe is sent again', async (t) => {
    const gateway = await gatewayFor(t, { env: { CLIENT_PUBLISH: 'true' } });
    const proxy = await deadPathProxy(t, gateway.port);
    const { client, of } = recorded(t, {
      url: proxy.wsUrl,
      channels: ['a'],
      keepAliveMs: 300,
      pongTimeoutMs: 500,
    });
    await waitFor(() => client.state === 'open', { what: "'open'" });

    proxy.freeze();
    await assert.rejects(client.publish('a', { n: 1 }), (error) => {
      assert.ok(error instanceof WsBridgeError);
      assert.equal(error.code, 'CONNECTION_LOST');
      assert.match(error.message, /may or may not/);
      return true;
    });
    await waitFor(() => client.state === 'open', { what: "'open' again" });

    const losses = of('reconnecting').length;
    proxy.freeze();
    const subscribed = client.subscribe('b');
    // The loss is an event: the state may be 'reconnecting' for less than a poll's interval.
    await waitFor(() => of('reconnecting').length > losses, { what: 'the loss' });
    assert.deepEqual(await subscribed, ['a', 'b']);
    assert.equal(await count(gateway.httpUrl, 'b'), 1);
  });
});

describe('the Node example (examples/node.mjs)', () => {
  test('prints open and the broadcasts, and exits on SIGINT', async (t) => {
    const gateway = await gatewayFor(t);
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL('../examples/node.mjs', import.meta.url)), gateway.wsUrl, 'news'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (out += chunk));
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(() => /^open \S+ news$/m.test(out), { what: `"open" in ${JSON.stringify(out)}` });
    await httpJson('POST', `${gateway.httpUrl}/broadcast/news`, { type: 'headline' });
    await waitFor(() => out.includes('message {"type":"headline"}'), { what: 'the message line' });
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.match(out, /^closed$/m);
  });
});

describe('WsBridgeClient in Node with ws: requests', () => {
  test('replies are matched to their requests; an error frame rejects the request it answers', async (t) => {
    const gateway = await gatewayFor(t, { env: { CLIENT_PUBLISH: 'true' } });
    const { client, of } = recorded(t, { url: gateway.wsUrl });
    const listener = /** @type {WebSocket} */ (await rawSocket(`${gateway.wsUrl}?channels=a`));
    /** @type {unknown[]} */
    const heard = [];
    listener.on('message', (data) => heard.push(JSON.parse(String(data))));
    t.after(() => listener.close());

    // All issued at once, before the client is even open.
    const results = await Promise.allSettled([
      client.subscribe(['a', 'b']),
      client.publish('a', { text: 'hi' }),
      client.subscribe(['bad name']),
      client.publish('not-mine', { text: 'no' }),
      client.unsubscribe(['b']),
      client.subscribe('c'),
    ]);
    assert.deepEqual(results[0], { status: 'fulfilled', value: ['a', 'b'] });
    assert.deepEqual(results[1], { status: 'fulfilled', value: { channel: 'a', connectionCount: 1, sent: 1 } });
    assert.equal(results[2].status, 'rejected');
    const refused = /** @type {PromiseRejectedResult} */ (results[2]).reason;
    assert.ok(refused instanceof WsBridgeError);
    assert.equal(refused.code, 'SERVER_ERROR');
    assert.match(refused.message, /bad name/);
    assert.deepEqual(/** @type {any} */ (refused.frame).type, 'error');
    assert.equal(results[3].status, 'rejected');
    assert.match(/** @type {PromiseRejectedResult} */ (results[3]).reason.message, /not-mine/);
    assert.deepEqual(results[4], { status: 'fulfilled', value: ['a'] });
    assert.deepEqual(results[5], { status: 'fulfilled', value: ['a', 'c'] });
    assert.deepEqual(client.channels, ['a', 'c']);

    await waitFor(() => heard.length === 1, { what: 'the published message' });
    assert.deepEqual(heard, [{ type: 'message', channel: 'a', data: { text: 'hi' } }]);
    // None of those replies reached 'message' listeners.
    assert.deepEqual(of('message'), []);
  });

  test('requests made before open are sent after it; the queue is bounded; close() rejects what waits', async (t) => {
    const gateway = await gatewayFor(t);
    /** @type {string[]} */
    const order = [];
    const { client } = recorded(t, { url: gateway.wsUrl });
    client.on('open', () => order.push('open'));
    const subscribed = client.subscribe('early').then((list) => {
      order.push('subscribed');
      return list;
    });
    assert.notEqual(client.state, 'open');
    assert.deepEqual(await subscribed, ['early']);
    assert.deepEqual(order, ['open', 'subscribed']);

    // Nothing listening on this port: the client never opens.
    const port = await freePort();
    const { client: offline } = recorded(t, { url: `ws://127.0.0.1:${port}/dev`, maxQueue: 2 });
    const first = offline.subscribe('x');
    offline.send({ action: 'ping' });
    await assert.rejects(offline.subscribe('y'), (error) => {
      assert.ok(error instanceof WsBridgeError);
      assert.equal(error.code, 'QUEUE_FULL');
      assert.match(error.message, /maxQueue 2/);
      return true;
    });
    assert.throws(() => offline.send({ action: 'ping' }), { code: 'QUEUE_FULL' });
    offline.close();
    await assert.rejects(first, { code: 'CLOSED' });
  });

  test('keep-alive pings and their pongs stay internal; a raw ping sent by the app gets its pong', async (t) => {
    const gateway = await gatewayFor(t);
    const { CountingWebSocket, pongs } = countingPongs();
    const { client, of } = recorded(t, { url: gateway.wsUrl, keepAliveMs: 100, WebSocket: CountingWebSocket });
    await waitFor(() => client.state === 'open', { what: "'open'" });
    await waitFor(() => pongs() >= 4, { what: 'keep-alive pongs' });
    assert.deepEqual(of('message'), []);
    client.send({ action: 'ping' });
    client.send({ action: 'subscribe', channels: ['raw'] });
    await waitFor(() => of('message').length === 2, { what: 'the replies to the raw frames' });
    // (The gateway, like API Gateway with Lambda, may answer two frames in either order.)
    assert.deepEqual(
      of('message')
        .map((e) => e.detail.type)
        .sort(),
      ['pong', 'subscribed'],
    );
    assert.deepEqual(client.channels, ['raw']);
    assert.equal(await count(gateway.httpUrl, 'raw'), 1);
  });

  test('requests queued while the gateway is down are sent after the reconnect', async (t) => {
    const gateway = await gatewayFor(t, { env: { CLIENT_PUBLISH: 'true' } });
    const { client } = recorded(t, { url: gateway.wsUrl, channels: ['a'] });
    await waitFor(() => client.state === 'open', { what: "'open'" });
    await gateway.stop();
    await waitFor(() => client.state === 'reconnecting', { what: "'reconnecting'" });
    // Queued while the gateway is down.
    const sub = client.subscribe('later');
    await gateway.start();
    assert.deepEqual((await sub).sort(), ['a', 'later']);
    assert.equal(await count(gateway.httpUrl, 'later'), 1);
  });
});
