// Asynchronous broadcasts in the publisher: the I/O-free core (a 202 is never read as a report,
// the polling is bounded, an error while following never says "not sent"), then WsBridgePublisher
// against real local gateways started as `make run` starts them (the in-process queue and
// workers), checked by real WebSocket peers.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as api from '../src/core/http-api.js';
import { BroadcastNotFound, BroadcastPending, TransportError, WsBridgePublisher } from '../src/publisher.js';
import { apiToken, startGateway, waitFor } from './browser.mjs';
import { onDynamoDb, startDynamoDbLocal } from './dynamodb-local.mjs';
import { peer, rejectsWith } from './peers.mjs';

const EVENT = { type: 'big.news', n: 1 };
const FAST = { initialMs: 10, maxMs: 20 };
const ID = 'q3xYq3xYq3xYq3xYq3xYq3';
const ACCEPTED = { broadcastId: ID, status: 'running', shardCount: 4, seq: 9, epoch: 'e1' };
const RUNNING = {
  broadcastId: ID,
  status: 'running',
  shardCount: 4,
  shardsDone: 1,
  connectionCount: 10,
  sent: 10,
  gone: 0,
  failed: 0,
  unconfirmed: 0,
  throttleRetries: 0,
  throttledMs: 0,
};
const COMPLETED = { ...RUNNING, status: 'completed', shardsDone: 4, sent: 38, gone: 2 };
/** @type {api.Outcome} */
const REFUSED = { kind: 'failure', error: new Error('refused'), reach: 'not-reached-transient' };

/**
 * @param {unknown} value
 * @param {number} [status]
 * @returns {api.Outcome}
 */
const answer = (value, status = 200) => ({ kind: 'response', status, text: JSON.stringify(value) });

/**
 * Feeds `outcomes` to a flow one request at a time.
 * @template T
 * @param {Generator<api.ApiRequest | api.Sleep, T, api.Outcome | undefined>} flow
 * @param {api.Outcome[]} outcomes
 */
function drive(flow, outcomes) {
  /** @type {api.ApiRequest[]} */
  const requests = [];
  /** @type {number[]} */
  const sleeps = [];
  let step = flow.next();
  while (!step.done) {
    const asked = step.value;
    if ('kind' in asked) {
      sleeps.push(asked.ms);
      step = flow.next();
    } else {
      requests.push(asked);
      step = flow.next(outcomes[requests.length - 1]);
    }
  }
  assert.equal(requests.length, outcomes.length, 'every outcome used');
  return { result: step.value, requests, sleeps };
}

describe('asynchronous broadcasts without I/O', () => {
  test('a 202 is the accepted broadcast, never a report, and is never re-sent', () => {
    const call = api.publish('news', { a: 1 }, true);
    assert.equal(call.request.preferAsync, true);
    assert.equal(api.broadcast({}).request.preferAsync, false);
    const { result, requests, sleeps } = drive(api.perform(call, 5, FAST), [answer(ACCEPTED, 202)]);
    assert.deepEqual(result, ACCEPTED);
    assert.deepEqual([requests.length, sleeps], [1, []]);
    // The preference may be ignored (RFC 7240): the 200's report is returned as it is.
    const sync = { connectionCount: 1, sent: 1, gone: [], failed: [] };
    assert.deepEqual(drive(api.perform(call, 0, FAST), [answer(sync)]).result, sync);
    assert.throws(() => drive(api.perform(api.broadcast({}), 0, FAST), [answer({ id: 1 }, 202)]), /unexpected answer/);
  });

  test('the report is typed, and 404 is BroadcastNotFound, not retried', () => {
    const { result, requests } = drive(api.perform(api.broadcastReport(ID), 0, FAST), [answer(COMPLETED)]);
    assert.deepEqual([requests[0].method, requests[0].path], ['GET', `/broadcasts/${ID}`]);
    assert.deepEqual(result, COMPLETED);
    assert.throws(
      () => drive(api.perform(api.broadcastReport(ID), 2, FAST), [answer({ error: 'no broadcast' }, 404)]),
      (error) => error instanceof BroadcastNotFound && error.broadcastId === ID && error.status === 404,
    );
  });

  test('wait polls with growing pauses until completed, bounded by its timeout', () => {
    const { result, sleeps } = drive(api.wait(ID, 30_000, 200, 0, FAST), [
      ...Array(4).fill(answer(RUNNING)),
      answer(COMPLETED),
    ]);
    assert.equal(result.status, 'completed');
    assert.deepEqual(sleeps, [50, 100, 200, 200]);
    assert.throws(
      () => drive(api.wait(ID, 0, 200, 0, FAST), [answer(RUNNING)]),
      (error) => error instanceof BroadcastPending && error.broadcastId === ID && error.report?.shardsDone === 1,
    );
  });

  test('follow returns the final report; a report it cannot read is BroadcastPending, not "not sent"', () => {
    const followed = drive(api.follow(api.broadcast({}), 10_000, 200, 0, FAST), [
      answer(ACCEPTED, 202),
      answer(RUNNING),
      answer(COMPLETED),
    ]);
    assert.deepEqual(followed.result, COMPLETED);
    assert.deepEqual(
      followed.requests.map((r) => r.method),
      ['POST', 'GET', 'GET'],
    );
    assert.throws(
      () => drive(api.follow(api.broadcast({}), 10_000, 200, 1, FAST), [answer(ACCEPTED, 202), REFUSED, REFUSED]),
      (error) => error instanceof BroadcastPending && error.broadcastId === ID && error.cause instanceof TransportError,
    );
  });
});

/**
 * @param {import('node:test').TestContext} t
 * @param {string[]} [args]
 * @param {'memory' | 'dynamodb'} [store] on DynamoDB Local of the test's own: the progress in a
 *   DynamoDB table (created if missing), shards claimed page by page
 */
async function gatewayFor(t, args = [], store = 'memory') {
  let options = { args, env: {} };
  if (store === 'dynamodb') {
    const ddb = await startDynamoDbLocal();
    t.after(() => ddb.remove());
    const dynamodb = onDynamoDb(ddb.endpoint);
    options = { args: [...dynamodb.args, ...args], env: dynamodb.env };
  }
  const gateway = await startGateway(options);
  t.after(() => gateway.stop());
  return gateway;
}

/**
 * A publisher whose requests are recorded (method and whether it asked for async).
 * @param {string} baseUrl
 * @param {Partial<import('../src/publisher.js').PublisherOptions>} [options]
 */
function recorded(baseUrl, options = {}) {
  /** @type {string[]} */
  const requests = [];
  /** @type {typeof fetch} */
  const recordingFetch = (input, init) => {
    const prefer = /** @type {Record<string, string>} */ (init?.headers ?? {}).prefer;
    requests.push(`${init?.method} ${String(input).split('/dev')[1]}${prefer ? ` (${prefer})` : ''}`);
    return fetch(input, init);
  };
  const publisher = new WsBridgePublisher({
    baseUrl,
    token: apiToken,
    backoff: FAST,
    fetch: recordingFetch,
    ...options,
  });
  return { publisher, requests };
}

// Shards of two recipients: five peers make at least three shards, all delivered by the workers.
const SMALL_SHARDS = ['--broadcast-shard-size', '2'];

describe('asynchronous broadcasts against a gateway', () => {
  for (const store of /** @type {const} */ (['memory', 'dynamodb'])) {
    test(`broadcastAsync to 5 connections completes with an exact report; waitForBroadcast returns it (${store})`, async (t) => {
      const gateway = await gatewayFor(t, SMALL_SHARDS, store);
      const { publisher, requests } = recorded(gateway.httpUrl);
      const peers = await Promise.all(Array.from({ length: 5 }, () => peer(t, gateway.wsUrl)));

      const accepted = await publisher.broadcastAsync(EVENT);

      assert.ok('broadcastId' in accepted && 'shardCount' in accepted, JSON.stringify(accepted));
      assert.equal(accepted.status, 'running');
      assert.ok(accepted.shardCount >= 3);
      assert.deepEqual(requests, ['POST /broadcast (respond-async)']);
      const report = await publisher.waitForBroadcast(accepted.broadcastId, { timeoutMs: 30_000 });
      assert.deepEqual(report, {
        broadcastId: accepted.broadcastId,
        status: 'completed',
        shardCount: accepted.shardCount,
        shardsDone: accepted.shardCount,
        connectionCount: 5,
        sent: 5,
        gone: 0,
        failed: 0,
        unconfirmed: 0,
        throttleRetries: 0,
        throttledMs: 0,
      });
      for (const p of peers) assert.deepEqual(await p.next(), EVENT);
      for (const p of peers) await p.nothingWithin(50); // once only
      assert.deepEqual(await publisher.broadcastReport(accepted.broadcastId), report);
    });
  }

  test('publishAsync on a history channel carries the number', async (t) => {
    const gateway = await gatewayFor(t, [...SMALL_SHARDS, '--history-channels', 'post:*']);
    const { publisher } = recorded(gateway.httpUrl);
    const inside = await Promise.all(Array.from({ length: 3 }, () => peer(t, gateway.wsUrl, { channels: ['post:1'] })));
    const outside = await peer(t, gateway.wsUrl, { channels: ['post:2'] });

    const accepted = await publisher.publishAsync('post:1', EVENT);

    assert.ok('broadcastId' in accepted, JSON.stringify(accepted));
    assert.equal(accepted.seq, 1);
    assert.equal(typeof accepted.epoch, 'string');
    const report = await publisher.waitForBroadcast(accepted.broadcastId, { timeoutMs: 30_000 });
    assert.deepEqual(
      [report.status, report.connectionCount, report.sent, report.channel, report.seq, report.epoch],
      ['completed', 3, 3, 'post:1', 1, accepted.epoch],
    );
    for (const p of inside) {
      const envelope = await p.next();
      assert.deepEqual([envelope.seq, envelope.data], [1, EVENT]);
    }
    await outside.nothingWithin(300);
  });

  test('an unknown id is BroadcastNotFound (404, not retried)', async (t) => {
    const gateway = await gatewayFor(t);
    const { publisher, requests } = recorded(gateway.httpUrl, { retries: 3 });
    const unknown = 'A'.repeat(22);
    const error = await rejectsWith(() => publisher.broadcastReport(unknown), BroadcastNotFound);
    assert.deepEqual([error.broadcastId, error.status], [unknown, 404]);
    await rejectsWith(() => publisher.waitForBroadcast(unknown, { timeoutMs: 5_000 }), BroadcastNotFound);
    assert.equal(requests.length, 2);
  });

  test('with --broadcast-async-threshold 1, broadcast and publish follow the 202 to the final report', async (t) => {
    const gateway = await gatewayFor(t, [...SMALL_SHARDS, '--broadcast-async-threshold', '1']);
    const { publisher, requests } = recorded(gateway.httpUrl);
    const peers = await Promise.all(Array.from({ length: 3 }, () => peer(t, gateway.wsUrl, { channels: ['news'] })));

    const report = await publisher.broadcast(EVENT);

    assert.ok('broadcastId' in report, JSON.stringify(report));
    assert.deepEqual(
      [report.status, report.connectionCount, report.sent, report.gone, report.failed],
      ['completed', 3, 3, 0, 0],
    );
    assert.equal(requests[0], 'POST /broadcast');
    assert.ok(
      requests.slice(1).every((r) => r === `GET /broadcasts/${report.broadcastId}`),
      requests.join(', '),
    );
    for (const p of peers) assert.deepEqual(await p.next(), EVENT);
    const published = await publisher.publish('news', EVENT);
    assert.ok('broadcastId' in published && published.sent === 3, JSON.stringify(published));
    for (const p of peers) assert.deepEqual(await p.next(), EVENT);
    for (const p of peers) await p.nothingWithin(50);
    // At or under the threshold the answer stays the synchronous report.
    const alone = await peer(t, gateway.wsUrl, { channels: ['quiet'] });
    assert.deepEqual(await publisher.publish('quiet', EVENT), { connectionCount: 1, sent: 1, gone: [], failed: [] });
    assert.deepEqual(await alone.next(), EVENT);
  });

  test('a followed broadcast not done within followTimeoutMs is BroadcastPending, and not sent again', async (t) => {
    const gateway = await gatewayFor(t, ['--broadcast-async-threshold', '1', '--client-queue', '1']);
    const { publisher, requests } = recorded(gateway.httpUrl, { followTimeoutMs: 0 });
    const reader = await peer(t, gateway.wsUrl);
    // A reader whose queue stays full holds its shard for seconds (the pusher's 429 retries), so
    // the broadcast is still running when the publisher reads its report the one time it may.
    const slow = await peer(t, gateway.wsUrl);
    slow.socket.pause();
    const slowId = slow.connectionId;
    const chunk = JSON.stringify({ fill: 'x'.repeat(100_000) });
    let fullSince = 0;
    await waitFor(
      async () => {
        const { status } = await fetch(`${gateway.httpUrl}/@connections/${encodeURIComponent(slowId)}`, {
          method: 'POST',
          body: chunk,
        });
        if (status === 200) fullSince = 0;
        else fullSince ||= Date.now();
        return fullSince !== 0 && Date.now() - fullSince >= 1_000;
      },
      { timeoutMs: 60_000, intervalMs: 20, what: "the slow reader's queue to stay full" },
    );

    const pending = await rejectsWith(() => publisher.broadcast(EVENT), BroadcastPending);

    assert.ok(pending.report !== null && pending.report.status === 'running', JSON.stringify(pending.report));
    assert.deepEqual(requests, ['POST /broadcast', `GET /broadcasts/${pending.broadcastId}`]);
    const report = await publisher.waitForBroadcast(pending.broadcastId, { timeoutMs: 60_000 });
    assert.deepEqual([report.status, report.connectionCount, report.sent, report.failed], ['completed', 2, 1, 1]);
    assert.deepEqual(await reader.next(), EVENT);
    await reader.nothingWithin(200); // accepted once, never re-sent
    assert.equal(requests.filter((r) => r.startsWith('POST')).length, 1);
  });
});
