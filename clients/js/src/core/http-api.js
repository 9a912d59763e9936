// The HTTP API without I/O: building requests, parsing answers into typed values or errors, and
// the retry rule. The publisher (publisher.js) runs `perform` with fetch; it could run with any
// transport. The twin of the Python client's ws_bridge/_protocol.py.
//
// SPDX-License-Identifier: MIT OR Apache-2.0

import {
  BadRequest,
  BroadcastNotFound,
  BroadcastPending,
  ConnectionGone,
  DeliveryFailed,
  TransportError,
  Unauthorized,
  Unavailable,
  WsBridgeApiError,
} from '../api-errors.js';
import { isObject } from './protocol.js';

/**
 * @typedef {object} FailedDelivery a connection the message could not be delivered to
 * @property {string} connectionId
 * @property {string} error the gateway's reason, e.g. `LimitExceededException: …`
 */

/**
 * @typedef {object} DeliveryReport who did and did not get a message: every addressed connection
 *   not named in `gone` or `failed` received it (`connectionCount === sent + gone.length +
 *   failed.length`)
 * @property {number} connectionCount connections the message was addressed to
 * @property {number} sent how many received it
 * @property {string[]} gone connections that no longer existed; the gateway removed them
 * @property {FailedDelivery[]} failed connections it could not be delivered to, with the reason
 * @property {number} [seq] on a channel with history: the message's sequence number
 * @property {string} [epoch] on a channel with history: the numbering `seq` belongs to
 */

/**
 * @typedef {object} AsyncBroadcast a broadcast the gateway accepted to deliver asynchronously
 *   (its 202): it runs on there. Follow it with `waitForBroadcast(broadcastId)`; never send the
 *   message again
 * @property {string} broadcastId
 * @property {string} status `running` when accepted
 * @property {number} shardCount how many shards the audience was cut into
 * @property {number} [seq] on a channel with history: the message's number, taken once
 * @property {string} [epoch] on a channel with history: the numbering `seq` belongs to
 */

/**
 * @typedef {object} AsyncBroadcastReport an asynchronous broadcast's report
 *   (`GET /broadcasts/{id}`), so far or final: counts, not ids. Once `status` is `completed`
 *   every recipient is counted once: `connectionCount === sent + gone + failed`
 * @property {string} broadcastId
 * @property {string} status `running`, or `completed` once every shard is done
 * @property {number} shardCount
 * @property {number} shardsDone
 * @property {number} connectionCount
 * @property {number} sent
 * @property {number} gone connections that no longer existed (410); the gateway removed them
 * @property {number} failed
 * @property {number} unconfirmed of `failed`: recipients of a page a worker was sending when it
 *   died; not sent again, so nobody gets the message twice; some of them may have received it
 * @property {number} throttleRetries
 * @property {number} throttledMs
 * @property {string} [channel]
 * @property {number} [seq]
 * @property {string} [epoch]
 */

/**
 * @typedef {object} ChannelStats
 * @property {string} name
 * @property {number} subscribers
 */

/**
 * @typedef {object} Stats the gateway's operator view: open connections and channels, largest first
 * @property {number} connections
 * @property {ChannelStats[]} channels
 * @property {number} channelCount how many channels have subscribers (`channels` may be cut at the limit)
 * @property {boolean} truncated whether `channels` was cut at the limit
 */

/**
 * @typedef {object} ApiRequest one request to the gateway, relative to the stage URL
 * @property {'GET' | 'POST'} method
 * @property {string} path percent-encoded, under the stage URL, starting with `/`
 * @property {string | null} body JSON text
 * @property {boolean} sendsMessage the routes that deliver a message: never re-sent once it may
 *   have arrived
 * @property {boolean} [preferAsync] sends `Prefer: respond-async` (RFC 7240): deliver
 *   asynchronously, answer 202
 */

/**
 * @template T
 * @typedef {object} Call a request and what turns its answer into the result or an error
 * @property {ApiRequest} request
 * @property {(status: number, text: string) => T} parse
 */

/**
 * @typedef {'not-reached-transient' | 'not-reached' | 'maybe-reached'} Reach whether a request
 *   that got no answer can have reached the gateway
 */

/**
 * @typedef {{ kind: 'response', status: number, text: string } | { kind: 'failure', error: unknown, reach: Reach }} Outcome
 *   what the transport got for a request
 */

/** @typedef {{ kind: 'sleep', ms: number }} Sleep */

/**
 * @typedef {object} RetryBackoff capped exponential backoff with full jitter: the delay before
 *   retry n (0 for the first) is drawn from [0, min(maxMs, initialMs · 2^n)]
 * @property {number} initialMs
 * @property {number} maxMs
 */

/** Milliseconds a request may take, by default. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Re-sends of a request that may be re-sent, by default. */
export const DEFAULT_RETRIES = 2;
/** @type {RetryBackoff} */
export const DEFAULT_BACKOFF = { initialMs: 100, maxMs: 2_000 };
/** Milliseconds `broadcast`/`publish` follow a 202 they did not ask for, by default. */
export const DEFAULT_FOLLOW_TIMEOUT_MS = 60_000;
/** Milliseconds `waitForBroadcast` waits for completion, by default. */
export const DEFAULT_WAIT_TIMEOUT_MS = 60_000;
/** The longest pause between two reads of an asynchronous broadcast's report, by default. */
export const DEFAULT_POLL_MS = 1_000;
const FIRST_POLL_MS = 50;

// --- requests ---------------------------------------------------------------------------------

/**
 * The event as the JSON object the gateway delivers verbatim. Throws a TypeError for anything but
 * a plain object, or for what JSON cannot hold (NaN, infinities, BigInt): nothing is sent.
 * @param {unknown} event
 * @returns {string}
 */
export function encodeEvent(event) {
  if (!isObject(event)) {
    const kind = event === null ? 'null' : Array.isArray(event) ? 'an array' : typeof event;
    throw new TypeError(`an event must be a JSON object, not ${kind}`);
  }
  const text = JSON.stringify(event, (_key, value) => {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new TypeError(`an event cannot carry ${value}: JSON has no such number`);
    }
    return value;
  });
  return text;
}

/**
 * `value` percent-encoded as one path segment (`:` `@` `|` `=` `/` included).
 * @param {unknown} value
 * @param {string} what
 */
export function pathSegment(value, what) {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string, not ${typeof value}`);
  if (value === '') throw new TypeError(`${what} must not be empty`);
  return encodeURIComponent(value);
}

/**
 * @param {string} path
 * @param {unknown} event
 * @param {string | null} [connectionId] for `/connections/{id}`: its 404 and 502 are typed
 * @returns {Call<DeliveryReport>}
 */
function message(path, event, connectionId = null) {
  const body = encodeEvent(event);
  return {
    request: { method: 'POST', path, body, sendsMessage: true },
    parse: (status, text) => parseReport(status, text, connectionId),
  };
}

/**
 * @param {string} path
 * @param {unknown} event
 * @param {boolean} preferAsync
 * @returns {Call<DeliveryReport | AsyncBroadcast>}
 */
function broadcastTo(path, event, preferAsync) {
  const body = encodeEvent(event);
  return {
    request: { method: 'POST', path, body, sendsMessage: true, preferAsync },
    parse: parseBroadcast,
  };
}

/**
 * 200: the report; 202: the accepted broadcast, whatever made the gateway choose it (asked, or
 * its `BROADCAST_ASYNC_THRESHOLD`).
 * @param {unknown} event
 * @param {boolean} [preferAsync]
 */
export const broadcast = (event, preferAsync = false) => broadcastTo('/broadcast', event, preferAsync);

/**
 * @param {string} channel
 * @param {unknown} event
 * @param {boolean} [preferAsync]
 */
export const publish = (channel, event, preferAsync = false) =>
  broadcastTo(`/broadcast/${pathSegment(channel, 'channel')}`, event, preferAsync);

/**
 * `GET /broadcasts/{id}`: an asynchronous broadcast's report so far, or the final one.
 * @param {string} broadcastId
 * @returns {Call<AsyncBroadcastReport>}
 */
export function broadcastReport(broadcastId) {
  const path = `/broadcasts/${pathSegment(broadcastId, 'broadcastId')}`;
  return {
    request: { method: 'GET', path, body: null, sendsMessage: false },
    parse: (status, text) => {
      if (status === 404) throw new BroadcastNotFound(errorMessage(status, text, json(text)), broadcastId);
      return answerOf(status, text, asyncReportFromJson);
    },
  };
}

/**
 * @param {string} userId
 * @param {unknown} event
 */
export const sendToUser = (userId, event) => message(`/users/${pathSegment(userId, 'userId')}`, event);

/**
 * @param {string} connectionId
 * @param {unknown} event
 */
export const sendToConnection = (connectionId, event) =>
  message(`/connections/${pathSegment(connectionId, 'connectionId')}`, event, connectionId);

/**
 * @param {string} [channel] that channel's subscribers; all connections when not given
 * @returns {Call<number>}
 */
export function count(channel) {
  let path = '/connections/count';
  if (channel !== undefined) {
    if (typeof channel !== 'string' || channel === '') throw new TypeError('channel must be a non-empty string');
    path += `?${new URLSearchParams({ channel })}`;
  }
  return { request: { method: 'GET', path, body: null, sendsMessage: false }, parse: parseCount };
}

/**
 * @param {number} [limit] at most this many channels, 1 to 1000 (the gateway's default 100)
 * @returns {Call<Stats>}
 */
export function stats(limit) {
  let path = '/stats';
  if (limit !== undefined) {
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new TypeError(`limit must be an integer from 1 to 1000, not ${limit}`);
    }
    path += `?limit=${limit}`;
  }
  return { request: { method: 'GET', path, body: null, sendsMessage: false }, parse: parseStats };
}

// --- answers ----------------------------------------------------------------------------------

class Malformed extends Error {}

/** @param {string} text */
function json(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * @param {unknown} value
 * @param {string} what
 * @returns {number}
 */
function int(value, what) {
  if (!Number.isSafeInteger(value)) throw new Malformed(`${what} is not an integer: ${JSON.stringify(value)}`);
  return /** @type {number} */ (value);
}

/**
 * @param {unknown} value
 * @param {string} what
 * @returns {string}
 */
function str(value, what) {
  if (typeof value !== 'string') throw new Malformed(`${what} is not a string: ${JSON.stringify(value)}`);
  return value;
}

/**
 * @param {unknown} value
 * @param {string} what
 * @returns {unknown[]}
 */
function list(value, what) {
  if (!Array.isArray(value)) throw new Malformed(`${what} is not a list: ${JSON.stringify(value)}`);
  return value;
}

/**
 * @param {unknown} value
 * @param {string} what
 * @returns {Record<string, any>}
 */
function object(value, what) {
  if (!isObject(value)) throw new Malformed(`${what} is not an object: ${JSON.stringify(value)}`);
  return value;
}

/**
 * A DeliveryReport from the gateway's `{"connectionCount":…}` JSON.
 * @param {unknown} payload
 * @returns {DeliveryReport}
 */
export function reportFromJson(payload) {
  const body = object(payload, 'the delivery report');
  /** @type {DeliveryReport} */
  const report = {
    connectionCount: int(body.connectionCount, 'connectionCount'),
    sent: int(body.sent, 'sent'),
    gone: list(body.gone ?? [], 'gone').map((id) => str(id, 'gone[]')),
    failed: list(body.failed ?? [], 'failed').map((entry) => {
      const item = object(entry, 'a failed delivery');
      return {
        connectionId: str(item.connectionId, 'failed[].connectionId'),
        error: str(item.error, 'failed[].error'),
      };
    }),
  };
  if ('seq' in body) report.seq = int(body.seq, 'seq');
  if ('epoch' in body) report.epoch = str(body.epoch, 'epoch');
  return report;
}

/**
 * An AsyncBroadcast from the 202's `{"broadcastId":…}` JSON.
 * @param {unknown} payload
 * @returns {AsyncBroadcast}
 */
export function acceptedFromJson(payload) {
  const body = object(payload, 'the accepted broadcast');
  /** @type {AsyncBroadcast} */
  const accepted = {
    broadcastId: str(body.broadcastId, 'broadcastId'),
    status: str(body.status, 'status'),
    shardCount: int(body.shardCount, 'shardCount'),
  };
  if ('seq' in body) accepted.seq = int(body.seq, 'seq');
  if ('epoch' in body) accepted.epoch = str(body.epoch, 'epoch');
  return accepted;
}

/**
 * An AsyncBroadcastReport from `GET /broadcasts/{id}`'s JSON.
 * @param {unknown} payload
 * @returns {AsyncBroadcastReport}
 */
export function asyncReportFromJson(payload) {
  const body = object(payload, "the broadcast's report");
  /** @type {AsyncBroadcastReport} */
  const report = {
    broadcastId: str(body.broadcastId, 'broadcastId'),
    status: str(body.status, 'status'),
    shardCount: int(body.shardCount, 'shardCount'),
    shardsDone: int(body.shardsDone, 'shardsDone'),
    connectionCount: int(body.connectionCount, 'connectionCount'),
    sent: int(body.sent, 'sent'),
    gone: int(body.gone, 'gone'),
    failed: int(body.failed, 'failed'),
    unconfirmed: int(body.unconfirmed ?? 0, 'unconfirmed'),
    throttleRetries: int(body.throttleRetries ?? 0, 'throttleRetries'),
    throttledMs: int(body.throttledMs ?? 0, 'throttledMs'),
  };
  if (body.channel !== undefined && body.channel !== null) report.channel = str(body.channel, 'channel');
  if ('seq' in body) report.seq = int(body.seq, 'seq');
  if ('epoch' in body) report.epoch = str(body.epoch, 'epoch');
  return report;
}

/**
 * @param {number} status
 * @param {string} text
 * @returns {DeliveryReport | AsyncBroadcast}
 */
function parseBroadcast(status, text) {
  if (status !== 202) return parseReport(status, text, null);
  try {
    return acceptedFromJson(json(text));
  } catch (error) {
    if (error instanceof Malformed) throw unexpected(status, text, error.message);
    throw error;
  }
}

/**
 * True when no connection was reached at all: nothing sent, none gone, none failed.
 * @param {DeliveryReport} report
 */
export function nothingAttempted(report) {
  return report.sent === 0 && report.gone.length === 0 && report.failed.length === 0;
}

/**
 * @param {number} status
 * @param {string} text
 * @param {unknown} payload
 */
function errorMessage(status, text, payload) {
  if (isObject(payload)) {
    for (const key of ['error', 'message']) if (typeof payload[key] === 'string') return payload[key];
  }
  const trimmed = text.trim();
  return trimmed !== '' ? trimmed.slice(0, 500) : `HTTP ${status} with an empty body`;
}

/**
 * @param {number} status
 * @param {string} text
 * @param {string} why
 */
function unexpected(status, text, why) {
  return new WsBridgeApiError(`unexpected answer from ws-bridge (${why}): ${text.slice(0, 300)}`, status);
}

/**
 * @param {unknown} payload
 * @returns {DeliveryReport | null}
 */
function partialReport(payload) {
  if (!isObject(payload) || !('connectionCount' in payload)) return null;
  try {
    return reportFromJson(payload);
  } catch {
    return null;
  }
}

/**
 * The error for a non-2xx answer.
 * @param {number} status
 * @param {string} text
 * @param {string | null} [connectionId] for `/connections/{id}`
 * @returns {WsBridgeApiError}
 */
export function errorFor(status, text, connectionId = null) {
  const payload = json(text);
  const why = errorMessage(status, text, payload);
  if (status === 400) return new BadRequest(why);
  if (status === 401) return new Unauthorized(why);
  if (status === 404 && connectionId !== null) return new ConnectionGone(why, connectionId);
  if (status === 502 && connectionId !== null) {
    // The gateway answers `{"error"}` alone here; a report, if one comes, is used as is.
    // Otherwise the report is what the route implies: one connection, not delivered.
    const report = partialReport(payload) ?? {
      connectionCount: 1,
      sent: 0,
      gone: [],
      failed: [{ connectionId, error: why }],
    };
    return new DeliveryFailed(why, report);
  }
  if (status === 503) return new Unavailable(why, partialReport(payload));
  return new WsBridgeApiError(why, status);
}

/**
 * The value a 200 answer holds, read by `read`; the error for any other status.
 * @template T
 * @param {number} status
 * @param {string} text
 * @param {(payload: unknown) => T} read throws Malformed for an answer of the wrong shape
 * @param {string | null} [connectionId] for `/connections/{id}`
 * @returns {T}
 */
function answerOf(status, text, read, connectionId = null) {
  if (status !== 200) throw errorFor(status, text, connectionId);
  try {
    return read(json(text));
  } catch (error) {
    if (error instanceof Malformed) throw unexpected(status, text, error.message);
    throw error;
  }
}

/**
 * @param {number} status
 * @param {string} text
 * @param {string | null} connectionId
 * @returns {DeliveryReport}
 */
const parseReport = (status, text, connectionId) => answerOf(status, text, reportFromJson, connectionId);

/**
 * @param {number} status
 * @param {string} text
 * @returns {number}
 */
const parseCount = (status, text) =>
  answerOf(status, text, (payload) => int(object(payload, 'the count').count, 'count'));

/**
 * @param {number} status
 * @param {string} text
 * @returns {Stats}
 */
const parseStats = (status, text) =>
  answerOf(status, text, (payload) => {
    const body = object(payload, 'the stats');
    const channels = list(body.channels, 'channels').map((entry) => {
      const item = object(entry, 'a channel');
      return { name: str(item.name, 'channels[].name'), subscribers: int(item.subscribers, 'channels[].subscribers') };
    });
    if (typeof body.truncated !== 'boolean') throw new Malformed(`truncated is not a boolean: ${body.truncated}`);
    return {
      connections: int(body.connections, 'connections'),
      channels,
      channelCount: int(body.channelCount, 'channelCount'),
      truncated: body.truncated,
    };
  });

// --- the retry rule ---------------------------------------------------------------------------

/**
 * @param {{ kind: 'failure', error: unknown, reach: Reach }} failure
 * @param {ApiRequest} request
 * @param {number} attempts
 */
function transportError(failure, request, attempts) {
  const maybeSent = request.sendsMessage && failure.reach === 'maybe-reached';
  const cause = /** @type {any} */ (failure.error);
  const detail =
    [cause?.message, cause?.cause?.code ?? cause?.cause?.message].filter(Boolean).join(': ') || 'no answer';
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  const consequence = maybeSent ? '; the message may have been delivered, so it was not re-sent' : '';
  return new TransportError(
    `${request.method} ${request.path} failed${tries}: ${detail}${consequence}`,
    maybeSent,
    failure.error,
  );
}

/**
 * @param {Outcome} outcome
 * @param {ApiRequest} request
 * @param {WsBridgeApiError} error
 */
function retryable(outcome, request, error) {
  if (outcome.kind === 'failure') {
    if (outcome.reach === 'not-reached-transient') return true;
    // A read that may have reached the gateway is safe to repeat; a message is not.
    return outcome.reach === 'maybe-reached' && !request.sendsMessage;
  }
  if (error instanceof Unavailable) {
    if (!request.sendsMessage) return true;
    // Re-send only when the gateway says it delivered to nobody.
    return error.report !== null && nothingAttempted(error.report);
  }
  return false;
}

/**
 * The delay before retry number `attempt` (0 for the first).
 * @param {RetryBackoff} backoff
 * @param {number} attempt
 */
export function retryDelay(backoff, attempt) {
  return Math.random() * Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 64));
}

/**
 * Runs `call` with retries: yields the request to send (and receives its outcome) or a Sleep (and
 * receives nothing); returns the parsed result or throws.
 *
 * Retried, `retries` times at most, after a jittered capped backoff: a request that never reached
 * the gateway (connection refused, DNS); a 503 to a message whose partial report says nothing was
 * sent, gone or failed; for reads (`count`, `stats`) any transport failure and any 503. Never
 * retried: a message that may have been accepted (a timeout while waiting for the answer, a
 * connection reset after sending, a 503 after sends), and every other status.
 * @template T
 * @param {Call<T>} call
 * @param {number} retries
 * @param {RetryBackoff} backoff
 * @returns {Generator<ApiRequest | Sleep, T, Outcome | undefined>}
 */
export function* perform(call, retries, backoff) {
  for (let attempt = 0; ; attempt += 1) {
    const outcome = yield call.request;
    if (outcome === undefined) throw new Error('perform() expects the outcome of the request it yielded');
    /** @type {WsBridgeApiError} */
    let error;
    if (outcome.kind === 'failure') {
      error = transportError(outcome, call.request, attempt + 1);
    } else {
      try {
        return call.parse(outcome.status, outcome.text);
      } catch (thrown) {
        if (!(thrown instanceof WsBridgeApiError)) throw thrown;
        error = thrown;
      }
    }
    if (attempt >= retries || !retryable(outcome, call.request, error)) throw error;
    yield { kind: 'sleep', ms: retryDelay(backoff, attempt) };
  }
}

// --- following an asynchronous broadcast ------------------------------------------------------

/**
 * Reads the report until it is `completed` (returned) or `timeoutMs` pass (BroadcastPending,
 * with the last report). Pauses 50 ms, then twice as long each time, at most `pollMs`: a small
 * broadcast is seen done at once, a large one is not read more than once per `pollMs`. Each read
 * is retried as reads are (see `perform`).
 * @param {string} broadcastId
 * @param {number} timeoutMs
 * @param {number} pollMs
 * @param {number} retries
 * @param {RetryBackoff} backoff
 * @param {() => number} [now] the clock, in milliseconds
 * @returns {Generator<ApiRequest | Sleep, AsyncBroadcastReport, Outcome | undefined>}
 */
export function* wait(broadcastId, timeoutMs, pollMs, retries, backoff, now = Date.now) {
  const call = broadcastReport(broadcastId);
  const deadline = now() + timeoutMs;
  let pause = Math.min(FIRST_POLL_MS, pollMs);
  for (;;) {
    const report = yield* perform(call, retries, backoff);
    if (report.status === 'completed') return report;
    const left = deadline - now();
    if (left <= 0) {
      throw new BroadcastPending(
        `broadcast ${broadcastId} not completed within ${timeoutMs} ms ` +
          `(${report.shardsDone} of ${report.shardCount} shards done); it runs on`,
        broadcastId,
        report,
      );
    }
    yield { kind: 'sleep', ms: Math.min(pause, left) };
    pause = Math.min(pause * 2, pollMs);
  }
}

/**
 * A broadcast that gives its final report: the 200's, or, when the gateway answered 202, the
 * asynchronous broadcast's once completed (read for at most `timeoutMs`). Once the 202 came the
 * message is accepted: whatever stops the reads (the timeout, the gateway unreachable, …) is
 * thrown as BroadcastPending with the broadcast's id, never as an error the caller could take
 * for "not sent" and send again.
 * @param {Call<DeliveryReport | AsyncBroadcast>} call
 * @param {number} timeoutMs
 * @param {number} pollMs
 * @param {number} retries
 * @param {RetryBackoff} backoff
 * @returns {Generator<ApiRequest | Sleep, DeliveryReport | AsyncBroadcastReport, Outcome | undefined>}
 */
export function* follow(call, timeoutMs, pollMs, retries, backoff) {
  const answer = yield* perform(call, retries, backoff);
  if (!('broadcastId' in answer)) return answer;
  try {
    return yield* wait(answer.broadcastId, timeoutMs, pollMs, retries, backoff);
  } catch (error) {
    if (error instanceof BroadcastPending || !(error instanceof WsBridgeApiError)) throw error;
    throw new BroadcastPending(
      `broadcast ${answer.broadcastId} was accepted (202) but its report could not be read: ` +
        `${error.message}; it runs on, do not send it again`,
      answer.broadcastId,
      null,
      { cause: error },
    );
  }
}
