// The HTTP API's I/O-free core (src/core/http-api.js): the retry rule run on outcomes written by
// hand, for the cases a live gateway cannot be made to produce on demand (a 503 after some
// sends), and the parsing of answers into typed values and errors.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeliveryFailed, Unavailable, WsBridgeApiError } from '../src/api-errors.js';
import * as api from '../src/core/http-api.js';

const NO_DELAY = { initialMs: 0, maxMs: 0 };

/**
 * Run `call` through `perform`, answering each request with the next of `outcomes`.
 * @template T
 * @param {import('../src/core/http-api.js').Call<T>} call
 * @param {import('../src/core/http-api.js').Outcome[]} outcomes
 * @param {number} [retries]
 */
function run(call, outcomes, retries = 5) {
  const flow = api.perform(call, retries, NO_DELAY);
  let sent = 0;
  let step = flow.next();
  try {
    while (!step.done) {
      if ('kind' in step.value) step = flow.next();
      else {
        const outcome = outcomes[sent];
        sent += 1;
        step = flow.next(outcome);
      }
    }
    return { sent, value: step.value, error: null };
  } catch (error) {
    return { sent, value: null, error };
  }
}

/** @param {number} status @param {unknown} body @returns {import('../src/core/http-api.js').Outcome} */
const answer = (status, body) => ({ kind: 'response', status, text: JSON.stringify(body) });
const REPORT = { connectionCount: 2, sent: 2, gone: [], failed: [] };
const STORE_DOWN = { error: 'connection store unavailable: …' };

test('a 503 to a message that reached nobody is re-sent; one after a send is not', () => {
  const nothing = { connectionCount: 0, sent: 0, gone: [], failed: [], ...STORE_DOWN };
  const healed = run(api.broadcast({ a: 1 }), [answer(503, nothing), answer(200, REPORT)]);
  assert.deepEqual([healed.sent, healed.value], [2, REPORT]);

  const partial = { connectionCount: 3, sent: 1, gone: [], failed: [], ...STORE_DOWN };
  const once = run(api.publish('news', { a: 1 }), [answer(503, partial), answer(200, REPORT)]);
  assert.equal(once.sent, 1, 'a 503 after a delivery must not be re-sent');
  assert.ok(once.error instanceof Unavailable);
  assert.deepEqual(once.error.report, { connectionCount: 3, sent: 1, gone: [], failed: [] });

  // Without a report nothing says it reached nobody: not re-sent either.
  const unknown = run(api.sendToUser('u', { a: 1 }), [answer(503, STORE_DOWN), answer(200, REPORT)]);
  assert.equal(unknown.sent, 1);
});

test('reads are repeated after any transport failure or 503; messages only when they never left', () => {
  const maybe = { kind: 'failure', error: new Error('socket hang up'), reach: 'maybe-reached' };
  const never = { kind: 'failure', error: new Error('refused'), reach: 'not-reached-transient' };
  const read = run(api.count(), [/** @type {any} */ (maybe), answer(503, STORE_DOWN), answer(200, { count: 4 })]);
  assert.deepEqual([read.sent, read.value], [3, 4]);
  const message = run(api.broadcast({ a: 1 }), [/** @type {any} */ (never), /** @type {any} */ (maybe)]);
  assert.equal(message.sent, 2);
  assert.equal(/** @type {any} */ (message.error).maybeSent, true);
  const limited = run(api.count(), [/** @type {any} */ (never), /** @type {any} */ (never)], 1);
  assert.match(String(limited.error), /after 2 attempts/);
});

test('a 502 without a report gets the one the route implies; other statuses are WsBridgeApiError', () => {
  const failed = run(api.sendToConnection('abc=', { a: 1 }), [answer(502, { error: 'GoneAway' })]);
  assert.ok(failed.error instanceof DeliveryFailed);
  assert.deepEqual(failed.error.report, {
    connectionCount: 1,
    sent: 0,
    gone: [],
    failed: [{ connectionId: 'abc=', error: 'GoneAway' }],
  });
  const tooLarge = run(api.broadcast({ a: 1 }), [answer(413, { error: 'request body is larger' })]);
  assert.ok(tooLarge.error instanceof WsBridgeApiError);
  assert.equal(/** @type {any} */ (tooLarge.error).status, 413);
  const malformed = run(api.count(), [{ kind: 'response', status: 200, text: '{"count":"x"}' }]);
  assert.match(String(malformed.error), /unexpected answer from ws-bridge \(count is not an integer/);
});

test('requests: paths percent-encoded, bodies compact JSON, queries', () => {
  const { request } = api.sendToConnection('a/b=', { text: 'é' });
  assert.deepEqual(request, {
    method: 'POST',
    path: '/connections/a%2Fb%3D',
    body: '{"text":"é"}',
    sendsMessage: true,
  });
  assert.equal(api.count('post:42').request.path, '/connections/count?channel=post%3A42');
  assert.equal(api.stats(5).request.path, '/stats?limit=5');
});
