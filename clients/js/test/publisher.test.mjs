// WsBridgePublisher (src/publisher.js) against real local gateways started as `make run` starts
// them, with real WebSocket peers (`ws`) receiving what it sends: every method, each error class,
// and the retry rule (a request that never reached the gateway and a 503 that sent nothing are
// re-sent; a message that may have been delivered never is). Attempts are counted by wrapping
// Node's own fetch.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, test } from 'node:test';
import {
  BadRequest,
  ConnectionGone,
  DeliveryFailed,
  TransportError,
  Unauthorized,
  Unavailable,
  WsBridgeApiError,
  WsBridgePublisher,
} from '../src/publisher.js';
import { apiToken, freePort, startGateway, waitFor } from './browser.mjs';
import { onDynamoDb, startDynamoDbLocal } from './dynamodb-local.mjs';
import { mintToken } from './jwt.mjs';
import { peer, rejectsWith } from './peers.mjs';

const EVENT = { type: 'news', data: { title: 'hello' } };
const SECRET = 'publisher-test-secret';
const FAST = { initialMs: 10, maxMs: 50 };

/**
 * @param {import('node:test').TestContext} t
 * @param {Parameters<typeof startGateway>[0]} [options]
 */
async function gatewayFor(t, options) {
  const gateway = await startGateway(options);
  t.after(() => gateway.stop());
  return gateway;
}

/**
 * A publisher whose requests are counted (`attempts()`), through Node's fetch.
 * @param {string} baseUrl
 * @param {Partial<import('../src/publisher.js').PublisherOptions>} [options]
 */
function counted(baseUrl, options = {}) {
  let attempts = 0;
  /** @type {typeof fetch} */
  const countingFetch = (input, init) => {
    attempts += 1;
    return fetch(input, init);
  };
  const publisher = new WsBridgePublisher({
    baseUrl,
    token: apiToken,
    backoff: FAST,
    fetch: countingFetch,
    ...options,
  });
  return {
    publisher,
    attempts: () => attempts,
    reset: () => {
      attempts = 0;
    },
  };
}

describe('the publisher against a gateway', () => {
  test('broadcast, publish, sendToUser, sendToConnection reach whom they address, with the report', async (t) => {
    const gateway = await gatewayFor(t, { env: { JWT_SECRET: SECRET } });
    const { publisher } = counted(gateway.httpUrl);
    const alice = await peer(t, gateway.wsUrl, {
      channels: ['room:1|a=b@c'],
      token: mintToken(SECRET, { sub: 'alice', channels: ['room:*'] }),
    });
    const bob = await peer(t, gateway.wsUrl, { token: mintToken(SECRET, { sub: 'bob', channels: [] }) });

    const everyone = await publisher.broadcast({ type: 'all', n: 1 });
    assert.deepEqual(everyone, { connectionCount: 2, sent: 2, gone: [], failed: [] });
    assert.deepEqual(await alice.next(), { type: 'all', n: 1 });
    assert.deepEqual(await bob.next(), { type: 'all', n: 1 });

    // A channel name with `|`, `=` and `@` is one path segment, percent-encoded.
    const room = await publisher.publish('room:1|a=b@c', { type: 'room', text: 'é ✓' });
    assert.deepEqual(room, { connectionCount: 1, sent: 1, gone: [], failed: [] });
    assert.deepEqual(await alice.next(), { type: 'room', text: 'é ✓' });

    assert.equal((await publisher.sendToUser('bob', { type: 'dm' })).sent, 1);
    assert.deepEqual(await bob.next(), { type: 'dm' });

    const direct = await publisher.sendToConnection(alice.connectionId, { type: 'direct' });
    assert.deepEqual(direct, { connectionCount: 1, sent: 1, gone: [], failed: [] });
    assert.deepEqual(await alice.next(), { type: 'direct' });

    await alice.nothingWithin(100);
    await bob.nothingWithin(0);
  });

  test('count and stats describe connections and channels', async (t) => {
    const gateway = await gatewayFor(t);
    const { publisher } = counted(gateway.httpUrl);
    await peer(t, gateway.wsUrl, { channels: ['news', 'sport'] });
    await peer(t, gateway.wsUrl, { channels: ['news'] });
    assert.equal(await publisher.count(), 2);
    assert.equal(await publisher.count('news'), 2);
    assert.equal(await publisher.count('sport'), 1);
    assert.equal(await publisher.count('nobody'), 0);
    assert.deepEqual(await publisher.stats(), {
      connections: 2,
      channels: [
        { name: 'news', subscribers: 2 },
        { name: 'sport', subscribers: 1 },
      ],
      channelCount: 2,
      truncated: false,
    });
    const one = await publisher.stats(1);
    assert.deepEqual([one.channels.length, one.channelCount, one.truncated], [1, 2, true]);
  });

  test('on a channel with history the report carries seq and epoch', async (t) => {
    const gateway = await gatewayFor(t, { args: ['--history-channels', 'updates'] });
    const { publisher } = counted(gateway.httpUrl);
    const listener = await peer(t, gateway.wsUrl, { channels: ['updates'] });
    const first = await publisher.publish('updates', { text: 'one' });
    const second = await publisher.publish('updates', { text: 'two' });
    assert.equal(first.sent, 1);
    assert.equal(typeof first.epoch, 'string');
    assert.deepEqual([first.seq, second.seq, second.epoch], [1, 2, first.epoch]);
    const envelope = await listener.next();
    assert.deepEqual(envelope, { type: 'message', channel: 'updates', seq: 1, data: { text: 'one' } });
  });

  test('BadRequest: an invalid channel name, with the gateway reason, never retried, nothing sent', async (t) => {
    const gateway = await gatewayFor(t);
    const { publisher, attempts } = counted(gateway.httpUrl, { retries: 3 });
    const listener = await peer(t, gateway.wsUrl, { channels: ['news'] });
    const error = await rejectsWith(() => publisher.publish('bad name', EVENT), BadRequest);
    assert.equal(error.status, 400);
    assert.match(error.message, /contains ' '/);
    assert.ok(error instanceof WsBridgeApiError, 'every error of the publisher is a WsBridgeApiError');
    assert.equal(attempts(), 1, 'a 400 is never retried');
    await listener.nothingWithin(200);
  });

  test('what the gateway could not take is refused before sending (TypeError, no request)', async (t) => {
    const gateway = await gatewayFor(t);
    const { publisher, attempts } = counted(gateway.httpUrl);
    for (const event of [['not', 'an', 'object'], 'text', 42, null]) {
      await rejectsWith(() => publisher.broadcast(/** @type {any} */ (event)), TypeError);
    }
    await rejectsWith(() => publisher.broadcast({ value: Number.NaN }), TypeError);
    await rejectsWith(() => publisher.broadcast({ value: 1n }), TypeError);
    await rejectsWith(() => publisher.publish('', EVENT), TypeError);
    await rejectsWith(() => publisher.sendToConnection('', EVENT), TypeError);
    await rejectsWith(() => publisher.stats(0), TypeError);
    assert.equal(attempts(), 0);
  });

  test('Unauthorized: a missing or wrong API token, never retried; the right one works', async (t) => {
    const gateway = await gatewayFor(t);
    const listener = await peer(t, gateway.wsUrl);
    for (const token of [null, 'wrong-token']) {
      const { publisher, attempts } = counted(gateway.httpUrl, { token, retries: 3 });
      const error = await rejectsWith(() => publisher.broadcast(EVENT), Unauthorized);
      assert.equal(error.status, 401);
      assert.match(error.message, /bearer token/);
      await rejectsWith(() => publisher.count(), Unauthorized);
      assert.equal(attempts(), 2, 'a 401 is never retried');
    }
    await listener.nothingWithin(200);
    const { publisher } = counted(gateway.httpUrl);
    assert.equal((await publisher.broadcast(EVENT)).sent, 1);
    assert.deepEqual(await listener.next(), EVENT);
  });

  test('ConnectionGone: sending to a closed connection, or to one that never existed', async (t) => {
    const gateway = await gatewayFor(t);
    const { publisher } = counted(gateway.httpUrl, { retries: 3 });
    const gone = await peer(t, gateway.wsUrl);
    await gone.close();
    await waitFor(async () => (await publisher.count()) === 0, { what: 'the close to be seen' });
    const error = await rejectsWith(() => publisher.sendToConnection(gone.connectionId, EVENT), ConnectionGone);
    assert.equal(error.status, 404);
    assert.equal(error.connectionId, gone.connectionId);
    assert.match(error.message, /is gone/);
    const never = await rejectsWith(() => publisher.sendToConnection('AAAAAAAAAAAAAAA=', EVENT), ConnectionGone);
    assert.equal(never.connectionId, 'AAAAAAAAAAAAAAA=');
  });

  test('DeliveryFailed: a connection whose queue stays full, with the report naming it, never retried', async (t) => {
    const gateway = await gatewayFor(t, { args: ['--client-queue', '1'], env: { BROADCAST_MAX_ATTEMPTS: '1' } });
    const { publisher, attempts, reset } = counted(gateway.httpUrl, { retries: 3 });
    const slow = await peer(t, gateway.wsUrl);
    // It stops reading: the kernel's buffers fill, then the gateway's queue of one.
    slow.socket.pause();
    const chunk = JSON.stringify({ fill: 'x'.repeat(100_000) });
    let fullSince = 0;
    await waitFor(
      async () => {
        const { status } = await fetch(`${gateway.httpUrl}/@connections/${encodeURIComponent(slow.connectionId)}`, {
          method: 'POST',
          body: chunk,
        });
        if (status === 200) fullSince = 0;
        else {
          assert.equal(status, 429);
          fullSince ||= Date.now();
        }
        return fullSince !== 0 && Date.now() - fullSince >= 1_000;
      },
      { timeoutMs: 60_000, intervalMs: 20, what: "the slow reader's queue to stay full" },
    );
    reset();
    const error = await rejectsWith(() => publisher.sendToConnection(slow.connectionId, EVENT), DeliveryFailed);
    assert.equal(error.status, 502);
    assert.equal(error.report.connectionCount, 1);
    assert.equal(error.report.sent, 0);
    assert.deepEqual(
      error.report.failed.map((/** @type {any} */ f) => f.connectionId),
      [slow.connectionId],
    );
    assert.match(error.report.failed[0].error, /LimitExceeded/);
    assert.equal(attempts(), 1, 'a 502 is never retried');
  });
});

describe('the publisher when the gateway cannot answer', () => {
  test('TransportError: nothing listens; the request never left, so it is retried, then raised (maybeSent false)', async () => {
    const port = await freePort();
    const { publisher, attempts } = counted(`http://127.0.0.1:${port}/dev`, { retries: 2 });
    const error = await rejectsWith(() => publisher.broadcast(EVENT), TransportError);
    assert.equal(error.maybeSent, false);
    assert.equal(error.status, null);
    assert.match(error.message, /ECONNREFUSED/);
    assert.match(error.message, /after 3 attempts/);
    assert.equal(attempts(), 3);
  });

  test('TransportError: no answer within the timeout; a message may have arrived, so it is not re-sent (maybeSent true); a read is', async (t) => {
    // A server that takes the request and never answers: the request did reach it.
    let received = 0;
    const server = createServer(() => {
      received += 1;
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
    const { publisher, attempts, reset } = counted(`http://127.0.0.1:${port}/dev`, { timeoutMs: 300, retries: 2 });
    const error = await rejectsWith(() => publisher.publish('news', EVENT), TransportError);
    assert.equal(error.maybeSent, true);
    assert.match(error.message, /may have been delivered, so it was not re-sent/);
    assert.equal(attempts(), 1);
    assert.equal(received, 1);
    reset();
    const read = await rejectsWith(() => publisher.count(), TransportError);
    assert.equal(read.maybeSent, false);
    assert.equal(attempts(), 3, 'a read is safe to repeat');
  });

  test('an abort by the caller is the abort, not a transport error', async (t) => {
    const gateway = await gatewayFor(t);
    const { publisher } = counted(gateway.httpUrl);
    const controller = new AbortController();
    controller.abort(new Error('the caller gave up'));
    await assert.rejects(publisher.count(undefined, { signal: controller.signal }), /the caller gave up/);
  });
});

describe('the publisher with the connection store down', () => {
  test('Unavailable: a message that reached nobody carries the partial report and is re-sent; a read has no report', async (t) => {
    const ddb = await startDynamoDbLocal();
    t.after(() => ddb.remove());
    const gateway = await gatewayFor(t, onDynamoDb(ddb.endpoint));
    const { publisher, attempts, reset } = counted(gateway.httpUrl, { retries: 2 });
    const listener = await peer(t, gateway.wsUrl, { channels: ['news'] });
    assert.equal((await publisher.broadcast({ type: 'before' })).sent, 1);
    assert.deepEqual(await listener.next(), { type: 'before' });

    await ddb.stop();
    reset();
    const error = await rejectsWith(() => publisher.publish('news', { type: 'during' }), Unavailable);
    assert.equal(error.status, 503);
    assert.match(error.message, /connection store unavailable/);
    assert.ok(error.report !== null, 'the partial report is carried, not hidden');
    assert.deepEqual([error.report.sent, error.report.gone, error.report.failed], [0, [], []]);
    assert.equal(attempts(), 3, 'nothing was sent, so re-sending was safe');

    reset();
    const read = await rejectsWith(() => publisher.count('news'), Unavailable);
    assert.equal(read.report, null);
    assert.equal(attempts(), 3);
    await listener.nothingWithin(200);
  });
});
