// Channels with history, end to end: a real local-gateway (--history-channels), real clients in
// Node (with `ws`) and in headless Chromium, real cuts (DeleteConnection, a TCP drop, a gateway
// restart) and, through a TCP proxy between them, real frames lost on the way. Every scenario
// runs in both places; the application's handlers must see each message once, in order, or a
// 'reset'.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { WsBridgeClient } from '../src/ws-bridge.js';
import { httpJson, launchChromium, sleep, startGateway, startStaticServer, waitFor } from './browser.mjs';

const HISTORY = ['--history-channels', 'post:*'];
const BACKOFF = { initialMs: 50, maxMs: 200 };

/**
 * @typedef {{ type: 'message', data: any, meta: any } | { type: 'reset', detail: any } | { type: 'open' }} Logged
 * @typedef {object} Driver one client under test, in Node or in a page
 * @property {() => Promise<Logged[]>} log every message, reset and open, in order
 * @property {() => Promise<string | null>} connectionId
 * @property {() => Promise<Record<string, {seq: number, epoch: string}>>} positions
 * @property {() => Promise<void>} hold the next handshakes wait (the token provider waits) …
 * @property {() => Promise<void>} release … until this
 * @property {(channel: string, data: unknown) => Promise<any>} publish
 * @property {(channels: string[]) => Promise<string[]>} [subscribe]
 * @property {(channels: string[]) => Promise<string[]>} [unsubscribe]
 * @property {() => Promise<void>} close
 */

/** @type {import('playwright-core').Browser | undefined} */
let browser;
/** @type {Awaited<ReturnType<typeof startStaticServer>> | undefined} */
let site;

before(async () => {
  site = await startStaticServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await site?.close();
});

/**
 * A client in this Node process.
 * @param {import('node:test').TestContext} t
 * @param {Record<string, unknown>} options
 * @returns {Promise<Driver>}
 */
async function nodeClient(t, options) {
  /** @type {Logged[]} */
  const log = [];
  /** @type {{ promise: Promise<void>, release: () => void } | null} */
  let gate = null;
  const client = new WsBridgeClient({
    WebSocket,
    keepAliveMs: 0,
    backoff: BACKOFF,
    ...options,
    url: /** @type {string} */ (options.url),
    token: async () => {
      if (gate) await gate.promise;
      return null;
    },
  });
  client.on('message', (data, meta) => log.push({ type: 'message', data, meta }));
  client.on('reset', (detail) => log.push({ type: 'reset', detail }));
  client.on('open', () => log.push({ type: 'open' }));
  t.after(() => client.close());
  return {
    log: async () => log,
    connectionId: async () => client.connectionId,
    positions: async () => client.positions,
    hold: async () => {
      /** @type {() => void} */
      let release = () => {};
      const promise = new Promise((resolve) => {
        release = () => resolve(undefined);
      });
      gate = { promise, release };
    },
    release: async () => {
      gate?.release();
      gate = null;
    },
    publish: (channel, data) => client.publish(channel, data),
    subscribe: (channels) => client.subscribe(channels),
    unsubscribe: (channels) => client.unsubscribe(channels),
    close: async () => client.close(),
  };
}

/**
 * A client in a fresh Chromium page, importing /src/ws-bridge.js; its positions are kept in
 * sessionStorage as an application would, and `reload()` reloads the page and starts a new
 * client from them.
 * @param {import('node:test').TestContext} t
 * @param {Record<string, unknown>} options JSON-serialisable
 */
async function pageClient(t, options) {
  assert.ok(browser && site);
  const context = await browser.newContext();
  const page = await context.newPage();
  /** @type {string[]} */
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  t.after(async () => {
    await context.close();
    assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
  });
  const start = async () => {
    await page.goto(`${site?.url}/`);
    await page.evaluate(
      async ({ options, backoff }) => {
        const modulePath = '/src/ws-bridge.js';
        const { WsBridgeClient } = await import(modulePath);
        const w = /** @type {any} */ (window);
        w.log = [];
        w.gate = null;
        const saved = sessionStorage.getItem('positions');
        const client = new WsBridgeClient({
          keepAliveMs: 0,
          backoff,
          ...options,
          ...(saved ? { positions: JSON.parse(saved) } : {}),
          token: async () => {
            if (w.gate) await w.gate.promise;
            return null;
          },
        });
        client.on('message', (/** @type {any} */ data, /** @type {any} */ meta) => {
          w.log.push({ type: 'message', data, meta });
          sessionStorage.setItem('positions', JSON.stringify(client.positions));
        });
        client.on('reset', (/** @type {any} */ detail) => w.log.push({ type: 'reset', detail }));
        client.on('open', () => w.log.push({ type: 'open' }));
        w.client = client;
      },
      { options, backoff: BACKOFF },
    );
  };
  await start();
  /** @type {Driver & { reload: () => Promise<void> }} */
  const driver = {
    log: () => page.evaluate(() => /** @type {any} */ (window).log),
    connectionId: () => page.evaluate(() => /** @type {any} */ (window).client.connectionId),
    positions: () => page.evaluate(() => /** @type {any} */ (window).client.positions),
    hold: () =>
      page.evaluate(() => {
        const w = /** @type {any} */ (window);
        let release = () => {};
        const promise = new Promise((resolve) => {
          release = () => resolve(undefined);
        });
        w.gate = { promise, release };
      }),
    release: () =>
      page.evaluate(() => {
        const w = /** @type {any} */ (window);
        w.gate?.release();
        w.gate = null;
      }),
    publish: (channel, data) =>
      page.evaluate(({ channel, data }) => /** @type {any} */ (window).client.publish(channel, data), {
        channel,
        data,
      }),
    close: () => page.evaluate(() => /** @type {any} */ (window).client.close()),
    reload: async () => {
      await page.evaluate(() => /** @type {any} */ (window).client.close());
      await page.reload();
      await start();
    },
  };
  return driver;
}

/**
 * A TCP proxy in front of the gateway that can cut every connection at once (a TCP drop: the
 * client sees 1006) and lose chosen gateway→client WebSocket frames on the way (`drop(text)`
 * true), as a failed or lost delivery would. Frames are parsed only to find their bounds.
 * @param {import('node:test').TestContext} t
 * @param {number} port
 */
async function faultyProxy(t, port) {
  /** @type {Set<net.Socket>} */
  const sockets = new Set();
  const proxy = {
    wsUrl: '',
    /** @type {(text: string) => boolean} */
    drop: () => false,
    /** Texts of the frames dropped so far. */
    /** @type {string[]} */
    dropped: [],
    cut() {
      for (const socket of sockets) socket.resetAndDestroy();
    },
  };
  const server = net.createServer((downstream) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(downstream);
    sockets.add(upstream);
    let buffer = Buffer.alloc(0);
    let upgraded = false;
    downstream.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (/** @type {Buffer} */ chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!upgraded) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        downstream.write(buffer.subarray(0, end + 4));
        buffer = buffer.subarray(end + 4);
        upgraded = true;
      }
      for (;;) {
        if (buffer.length < 2) return;
        let length = buffer[1] & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (buffer.length < 4) return;
          length = buffer.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (buffer.length < 10) return;
          length = Number(buffer.readBigUInt64BE(2));
          offset = 10;
        }
        if (buffer.length < offset + length) return;
        const frame = buffer.subarray(0, offset + length);
        buffer = buffer.subarray(offset + length);
        if ((frame[0] & 0x0f) === 1) {
          const text = frame.subarray(offset).toString();
          if (proxy.drop(text)) {
            proxy.dropped.push(text);
            continue;
          }
        }
        downstream.write(frame);
      }
    });
    const close = () => {
      sockets.delete(downstream);
      sockets.delete(upstream);
      downstream.destroy();
      upstream.destroy();
    };
    downstream.on('error', close);
    upstream.on('error', close);
    downstream.on('close', close);
    upstream.on('close', close);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  proxy.wsUrl = `ws://127.0.0.1:${/** @type {net.AddressInfo} */ (server.address()).port}/dev`;
  return proxy;
}

/**
 * @param {import('node:test').TestContext} t
 * @param {string[]} args
 */
async function gatewayFor(t, args) {
  const gateway = await startGateway({ args });
  t.after(() => gateway.stop());
  return gateway;
}

/**
 * @param {string} httpUrl
 * @param {string} channel
 * @param {unknown} body
 */
async function post(httpUrl, channel, body) {
  const { status, body: report } = await httpJson('POST', `${httpUrl}/broadcast/${channel}`, body);
  assert.equal(status, 200, JSON.stringify(report));
  return report;
}

/**
 * Post `{type: 'n', n}` for n in [from, to) one after the other, `intervalMs` apart; `during(n)`
 * runs before posting n.
 * @param {string} httpUrl
 * @param {string} channel
 * @param {number} from
 * @param {number} to
 * @param {number} intervalMs
 * @param {(n: number) => Promise<void> | void} [during]
 */
async function postSteadily(httpUrl, channel, from, to, intervalMs, during) {
  for (let n = from; n < to; n += 1) {
    await during?.(n);
    await post(httpUrl, channel, { type: 'n', n });
    if (intervalMs > 0) await sleep(intervalMs);
  }
}

/** @param {Logged[]} log @param {string} channel */
const received = (log, channel) =>
  /** @type {{ type: 'message', data: any, meta: any }[]} */ (log).filter(
    (e) => e.type === 'message' && e.meta?.channel === channel,
  );

/**
 * The application's handler saw exactly `expected` (the `n`s), in order, once each, with
 * consecutive seqs (unless `consecutive` is false).
 * @param {Driver} client
 * @param {string} channel
 * @param {number[]} expected
 */
async function receivedExactly(client, channel, expected, consecutive = true) {
  await waitFor(async () => received(await client.log(), channel).length >= expected.length, {
    timeoutMs: 20_000,
    what: `${expected.length} messages on ${channel}`,
  });
  await sleep(300); // nothing more, nothing twice
  const got = received(await client.log(), channel);
  assert.deepEqual(
    got.map((e) => e.data.n),
    expected,
  );
  for (let i = 1; i < got.length; i += 1) {
    if (consecutive) assert.equal(got[i].meta.seq, got[i - 1].meta.seq + 1);
    else assert.ok(got[i].meta.seq > got[i - 1].meta.seq);
  }
  return got;
}

/** @param {Driver} client */
async function opened(client, times = 1) {
  await waitFor(async () => (await client.log()).filter((e) => e.type === 'open').length >= times, {
    what: `'open' #${times}`,
  });
}

const places = /** @type {const} */ ([
  ['in Node', nodeClient],
  ['in Chromium', pageClient],
]);

for (const [where, makeClient] of places) {
  describe(`channels with history, ${where}`, () => {
    test('DeleteConnection while 100 messages are posted at a steady pace: the handler gets all 100 once, in order', async (t) => {
      const gateway = await gatewayFor(t, HISTORY);
      await post(gateway.httpUrl, 'post:1', { type: 'n', n: -1 }); // the channel has an epoch
      const client = await makeClient(t, { url: gateway.wsUrl, channels: ['post:1'] });
      await opened(client);
      await postSteadily(gateway.httpUrl, 'post:1', 0, 100, 10, async (n) => {
        if (n === 30) {
          await client.hold(); // the reconnect waits a moment: messages are missed live
          const id = await client.connectionId();
          const { status } = await httpJson(
            'DELETE',
            `${gateway.httpUrl}/@connections/${encodeURIComponent(String(id))}`,
          );
          assert.equal(status, 204);
        }
        if (n === 45) await client.release();
      });
      const got = await receivedExactly(
        client,
        'post:1',
        Array.from({ length: 100 }, (_, n) => n),
      );
      assert.ok(
        got.some((e) => e.meta.replayed),
        'some came from the history',
      );
      assert.ok(got.slice(0, 30).every((e) => !e.meta.replayed));
      assert.equal((await client.log()).filter((e) => e.type === 'open').length, 2);
      assert.equal((await client.log()).filter((e) => e.type === 'reset').length, 0);
      const positions = await client.positions();
      assert.equal(positions['post:1'].seq, got.at(-1)?.meta.seq);
    });

    test('a TCP drop while 100 messages are posted: all 100 once, in order', async (t) => {
      const gateway = await gatewayFor(t, HISTORY);
      const proxy = await faultyProxy(t, gateway.port);
      await post(gateway.httpUrl, 'post:2', { type: 'n', n: -1 });
      const client = await makeClient(t, { url: proxy.wsUrl, channels: ['post:2'] });
      await opened(client);
      await postSteadily(gateway.httpUrl, 'post:2', 0, 100, 10, async (n) => {
        if (n === 20) {
          await client.hold();
          proxy.cut();
        }
        if (n === 40) await client.release();
      });
      const got = await receivedExactly(
        client,
        'post:2',
        Array.from({ length: 100 }, (_, n) => n),
      );
      assert.ok(got.some((e) => e.meta.replayed));
    });

    test('publishers racing the re-subscribe (4 at once, no pause): exactly once, in sequence order', async (t) => {
      const gateway = await gatewayFor(t, HISTORY);
      await post(gateway.httpUrl, 'post:3', { type: 'n', n: -1 });
      const client = await makeClient(t, { url: gateway.wsUrl, channels: ['post:3'], gapTimeoutMs: 300 });
      await opened(client);
      const id = await client.connectionId();
      /** @type {Map<number, number>} seq → n, from the delivery reports */
      const bySeq = new Map();
      let next = 0;
      const publisher = async () => {
        while (next < 300) {
          const n = next++;
          const report = await post(gateway.httpUrl, 'post:3', { type: 'n', n });
          bySeq.set(report.seq, n);
        }
      };
      const publishers = Array.from({ length: 4 }, publisher);
      // Cut while they publish: the re-subscribe races them.
      await waitFor(() => next > 60, { what: '60 published' });
      await httpJson('DELETE', `${gateway.httpUrl}/@connections/${encodeURIComponent(String(id))}`);
      await Promise.all(publishers);
      const expected = [...bySeq.keys()].sort((a, b) => a - b).map((seq) => /** @type {number} */ (bySeq.get(seq)));
      await receivedExactly(client, 'post:3', expected);
      assert.equal((await client.log()).filter((e) => e.type === 'open').length, 2);
    });

    test('a live message lost on the way is fetched from the history after gapTimeoutMs; later ones wait for it', async (t) => {
      const gateway = await gatewayFor(t, HISTORY);
      const proxy = await faultyProxy(t, gateway.port);
      await post(gateway.httpUrl, 'post:4', { type: 'n', n: -1 });
      // A gap timeout long enough to see the later messages wait, however slow the machine.
      const client = await makeClient(t, { url: proxy.wsUrl, channels: ['post:4'], gapTimeoutMs: 3_000 });
      await opened(client);
      // Only the live frame: the history frame that fills the gap passes.
      proxy.drop = (text) => text.startsWith('{"type":"message","channel":"post:4"') && text.includes('"n":5}');
      await postSteadily(gateway.httpUrl, 'post:4', 0, 10, 0);
      await waitFor(async () => received(await client.log(), 'post:4').length >= 5, { what: '0..4 delivered' });
      // 0..4 delivered; 6..9 arrived but wait for 5.
      assert.deepEqual(
        received(await client.log(), 'post:4').map((e) => e.data.n),
        [0, 1, 2, 3, 4],
      );
      const got = await receivedExactly(
        client,
        'post:4',
        Array.from({ length: 10 }, (_, n) => n),
      );
      assert.equal(proxy.dropped.length, 1);
      assert.deepEqual(
        got.filter((e) => e.meta.replayed).map((e) => e.data.n),
        [5],
      );
      assert.equal((await client.log()).filter((e) => e.type === 'open').length, 1, 'no reconnect needed');
    });

    test('concurrent publishers: messages are delivered in sequence order, each once', async (t) => {
      const gateway = await gatewayFor(t, HISTORY);
      await post(gateway.httpUrl, 'post:5', { type: 'n', n: -1 });
      const client = await makeClient(t, { url: gateway.wsUrl, channels: ['post:5'] });
      await opened(client);
      /** @type {Map<number, number>} */
      const bySeq = new Map();
      await Promise.all(
        Array.from({ length: 8 }, async (_, p) => {
          for (let i = 0; i < 25; i += 1) {
            const n = p * 25 + i;
            bySeq.set((await post(gateway.httpUrl, 'post:5', { type: 'n', n })).seq, n);
          }
        }),
      );
      const expected = [...bySeq.keys()].sort((a, b) => a - b).map((seq) => /** @type {number} */ (bySeq.get(seq)));
      await receivedExactly(client, 'post:5', expected);
    });

    test('a lost message the history no longer holds: reset, then delivery goes on (never stalls)', async (t) => {
      const gateway = await gatewayFor(t, [...HISTORY, '--history-max-messages', '3']);
      const proxy = await faultyProxy(t, gateway.port);
      await post(gateway.httpUrl, 'post:6', { type: 'n', n: -1 });
      const client = await makeClient(t, { url: proxy.wsUrl, channels: ['post:6'], gapTimeoutMs: 300 });
      await opened(client);
      proxy.drop = (text) => text.startsWith('{"type":"message"') && text.includes('"n":2}');
      await postSteadily(gateway.httpUrl, 'post:6', 0, 10, 0); // 2 is trimmed by the time it is fetched
      await waitFor(async () => (await client.log()).some((e) => e.type === 'reset'), { what: 'reset' });
      await postSteadily(gateway.httpUrl, 'post:6', 10, 12, 0);
      await waitFor(async () => received(await client.log(), 'post:6').some((e) => e.data.n === 11), {
        what: 'live after the reset',
      });
      const log = (await client.log()).filter((e) => e.type !== 'open');
      const resetAt = log.findIndex((e) => e.type === 'reset');
      const reset = /** @type {any} */ (log[resetAt]).detail;
      assert.equal(reset.channel, 'post:6');
      assert.equal(reset.reason, 'history trimmed');
      assert.equal(reset.seq, 11, 'the latest: the warm-up message and 0..9');
      assert.deepEqual(
        log.slice(0, resetAt).map((e) => /** @type {any} */ (e).data.n),
        [0, 1],
      );
      assert.deepEqual(
        log.slice(resetAt + 1).map((e) => /** @type {any} */ (e).data.n),
        [10, 11],
      );
    });

    test('away longer than the history keeps (by count): reset, then live messages', async (t) => {
      const gateway = await gatewayFor(t, [...HISTORY, '--history-max-messages', '5']);
      await post(gateway.httpUrl, 'post:7', { type: 'n', n: -1 });
      const client = await makeClient(t, { url: gateway.wsUrl, channels: ['post:7'] });
      await opened(client);
      await postSteadily(gateway.httpUrl, 'post:7', 0, 3, 0);
      await receivedExactly(client, 'post:7', [0, 1, 2]);
      await client.hold();
      await httpJson(
        'DELETE',
        `${gateway.httpUrl}/@connections/${encodeURIComponent(String(await client.connectionId()))}`,
      );
      await postSteadily(gateway.httpUrl, 'post:7', 3, 20, 0);
      await client.release();
      await opened(client, 2);
      await postSteadily(gateway.httpUrl, 'post:7', 20, 23, 0);
      await waitFor(async () => received(await client.log(), 'post:7').length >= 6, { what: 'live after the reset' });
      const log = (await client.log()).filter((e) => e.type !== 'open');
      assert.deepEqual(
        log.map((e) =>
          e.type === 'reset' ? `reset ${e.detail.reason} ${e.detail.seq}` : /** @type {any} */ (e).data.n,
        ),
        [0, 1, 2, 'reset history trimmed 21', 20, 21, 22],
      );
      assert.equal((await client.positions())['post:7'].seq, 24);
    });

    test('away longer than the history keeps (by time): reset, then live messages', async (t) => {
      const gateway = await gatewayFor(t, [...HISTORY, '--history-ttl-seconds', '1']);
      await post(gateway.httpUrl, 'post:8', { type: 'n', n: -1 });
      const client = await makeClient(t, { url: gateway.wsUrl, channels: ['post:8'] });
      await opened(client);
      await client.hold();
      await httpJson(
        'DELETE',
        `${gateway.httpUrl}/@connections/${encodeURIComponent(String(await client.connectionId()))}`,
      );
      await postSteadily(gateway.httpUrl, 'post:8', 0, 3, 0);
      await sleep(2_200); // longer than the TTL
      await client.release();
      await opened(client, 2);
      await post(gateway.httpUrl, 'post:8', { type: 'n', n: 3 });
      await waitFor(async () => received(await client.log(), 'post:8').length >= 1, { what: 'live after the reset' });
      const log = (await client.log()).filter((e) => e.type !== 'open');
      assert.deepEqual(
        log.map((e) =>
          e.type === 'reset' ? `reset ${e.detail.reason} ${e.detail.seq}` : /** @type {any} */ (e).data.n,
        ),
        ['reset history expired 4', 3],
      );
    });

    test('the gateway restarted (in-memory store) while the client was away: reset with the new epoch', async (t) => {
      const gateway = await gatewayFor(t, HISTORY);
      await post(gateway.httpUrl, 'post:9', { type: 'n', n: -1 });
      const client = await makeClient(t, { url: gateway.wsUrl, channels: ['post:9'] });
      await opened(client);
      await postSteadily(gateway.httpUrl, 'post:9', 0, 3, 0);
      await receivedExactly(client, 'post:9', [0, 1, 2]);
      const before = (await client.positions())['post:9'];
      await client.hold();
      await gateway.restart();
      await postSteadily(gateway.httpUrl, 'post:9', 100, 102, 0); // numbered 1, 2 in the new epoch
      await client.release();
      await opened(client, 2);
      await post(gateway.httpUrl, 'post:9', { type: 'n', n: 102 });
      await waitFor(async () => received(await client.log(), 'post:9').length >= 4, { what: 'live after the reset' });
      const log = (await client.log()).filter((e) => e.type !== 'open');
      const reset = /** @type {any} */ (log[3]);
      assert.equal(reset.type, 'reset');
      assert.equal(reset.detail.reason, 'epoch changed');
      assert.equal(reset.detail.seq, 2);
      assert.notEqual(reset.detail.epoch, before.epoch);
      const after = received(log, 'post:9').slice(3);
      assert.deepEqual(
        after.map((e) => [e.data.n, e.meta.seq, e.meta.epoch]),
        [[102, 3, reset.detail.epoch]],
      );
    });

    test('a channel first published to after the subscribe: the client learns its epoch and resumes it', async (t) => {
      const gateway = await gatewayFor(t, HISTORY);
      const client = await makeClient(t, { url: gateway.wsUrl, channels: ['post:10'] });
      await opened(client);
      assert.deepEqual(await client.positions(), { 'post:10': { seq: 0, epoch: '' } });
      await postSteadily(gateway.httpUrl, 'post:10', 0, 2, 0);
      await receivedExactly(client, 'post:10', [0, 1]);
      await waitFor(async () => (await client.positions())['post:10'].epoch !== '', { what: 'the epoch' });
      await client.hold();
      await httpJson(
        'DELETE',
        `${gateway.httpUrl}/@connections/${encodeURIComponent(String(await client.connectionId()))}`,
      );
      await postSteadily(gateway.httpUrl, 'post:10', 2, 5, 0);
      await client.release();
      await receivedExactly(client, 'post:10', [0, 1, 2, 3, 4]);
      assert.equal((await client.log()).filter((e) => e.type === 'reset').length, 0);
    });

    test('positions passed back to a new client (a page reload): it gets exactly what it missed', async (t) => {
      const gateway = await gatewayFor(t, HISTORY);
      await post(gateway.httpUrl, 'post:11', { type: 'n', n: -1 });
      let client = await makeClient(t, { url: gateway.wsUrl, channels: ['post:11'] });
      await opened(client);
      await postSteadily(gateway.httpUrl, 'post:11', 0, 3, 0);
      await receivedExactly(client, 'post:11', [0, 1, 2]);
      const positions = await client.positions();
      await client.close();
      await postSteadily(gateway.httpUrl, 'post:11', 3, 6, 0);
      if ('reload' in client && typeof client.reload === 'function') {
        await client.reload(); // a real reload: the page saved its positions in sessionStorage
      } else {
        client = await makeClient(t, { url: gateway.wsUrl, channels: ['post:11'], positions });
      }
      await opened(client);
      await postSteadily(gateway.httpUrl, 'post:11', 6, 7, 0);
      const got = await receivedExactly(client, 'post:11', [3, 4, 5, 6]);
      assert.deepEqual(
        got.map((e) => e.meta.replayed),
        [true, true, true, false],
      );
    });

    test('channels without history: messages as before (the posted object, no metadata), nothing replayed', async (t) => {
      const gateway = await gatewayFor(t, HISTORY);
      const client = await makeClient(t, { url: gateway.wsUrl, channels: ['news', 'post:12'] });
      await opened(client);
      assert.deepEqual(await client.positions(), { 'post:12': { seq: 0, epoch: '' } });
      await post(gateway.httpUrl, 'news', { type: 'n', n: 1 });
      await waitFor(async () => (await client.log()).some((e) => e.type === 'message'), { what: 'the message' });
      await client.hold();
      await httpJson(
        'DELETE',
        `${gateway.httpUrl}/@connections/${encodeURIComponent(String(await client.connectionId()))}`,
      );
      await post(gateway.httpUrl, 'news', { type: 'n', n: 2 }); // missed: no history
      await client.release();
      await opened(client, 2);
      await post(gateway.httpUrl, 'news', { type: 'n', n: 3 });
      // A replay of 2 would have come with the re-subscribe, before 'open', so before 3.
      await waitFor(
        async () => (await client.log()).some((e) => e.type === 'message' && /** @type {any} */ (e).data?.n === 3),
        { what: 'the live message' },
      );
      const messages = (await client.log()).filter((e) => e.type === 'message');
      assert.deepEqual(
        messages.map((e) => [/** @type {any} */ (e).data, /** @type {any} */ (e).meta]),
        [
          [{ type: 'n', n: 1 }, null],
          [{ type: 'n', n: 3 }, null],
        ],
      );
    });
  });
}

describe('channels with history, client publish', () => {
  test("the client's own publishes count as seen: a resume replays only the others'", async (t) => {
    const gateway = await startGateway({ args: HISTORY, env: { CLIENT_PUBLISH: 'true' } });
    t.after(() => gateway.stop());
    const client = await nodeClient(t, { url: gateway.wsUrl, channels: ['post:13'] });
    await opened(client);
    const mine = await client.publish('post:13', { type: 'n', n: 0 });
    assert.equal(mine.seq, 1);
    assert.equal(typeof mine.epoch, 'string');
    assert.deepEqual(await client.positions(), { 'post:13': { seq: 1, epoch: mine.epoch } });
    await post(gateway.httpUrl, 'post:13', { type: 'n', n: 1 });
    await receivedExactly(client, 'post:13', [1]);
    await client.hold();
    await httpJson(
      'DELETE',
      `${gateway.httpUrl}/@connections/${encodeURIComponent(String(await client.connectionId()))}`,
    );
    await post(gateway.httpUrl, 'post:13', { type: 'n', n: 2 });
    await client.release();
    await opened(client, 2);
    const again = await client.publish('post:13', { type: 'n', n: 3 });
    await post(gateway.httpUrl, 'post:13', { type: 'n', n: 4 });
    assert.equal(again.seq, 4);
    // Seq 4 (its own) is skipped, not waited for.
    const got = await receivedExactly(client, 'post:13', [1, 2, 4], false);
    assert.deepEqual(
      got.map((e) => e.meta.seq),
      [2, 3, 5],
    );
    assert.equal((await client.positions())['post:13'].seq, 5);
  });
  test('a channel subscribed later is resumed too; unsubscribing forgets its position', async (t) => {
    const gateway = await startGateway({ args: HISTORY });
    t.after(() => gateway.stop());
    await post(gateway.httpUrl, 'post:15', { type: 'n', n: -1 });
    const client = await nodeClient(t, { url: gateway.wsUrl });
    await opened(client);
    await client.subscribe?.(['post:15']);
    assert.deepEqual(Object.keys(await client.positions()), ['post:15']);
    await post(gateway.httpUrl, 'post:15', { type: 'n', n: 0 });
    await receivedExactly(client, 'post:15', [0]);
    await client.hold();
    await httpJson(
      'DELETE',
      `${gateway.httpUrl}/@connections/${encodeURIComponent(String(await client.connectionId()))}`,
    );
    await post(gateway.httpUrl, 'post:15', { type: 'n', n: 1 });
    await client.release();
    await receivedExactly(client, 'post:15', [0, 1]);
    await client.unsubscribe?.(['post:15']);
    assert.deepEqual(await client.positions(), {});
  });
});
