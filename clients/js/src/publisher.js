// @ws-bridge/client/publisher: the server-side publisher, for Node >= 20 (its built-in fetch) and
// any runtime with fetch (Next.js route handlers and server actions, Express, workers). A thin
// transport around core/http-api.js: it sends what `perform` asks for and sleeps when it says.
// The twin of the Python client's WsBridge / AsyncWsBridge.
//
// SPDX-License-Identifier: MIT OR Apache-2.0

import * as api from './core/http-api.js';
import { httpBase, nonNegative } from './core/protocol.js';

export {
  BadRequest,
  BroadcastNotFound,
  BroadcastPending,
  ConnectionGone,
  DeliveryFailed,
  TransportError,
  Unauthorized,
  Unavailable,
  WsBridgeApiError,
} from './api-errors.js';

/** @typedef {import('./core/http-api.js').DeliveryReport} DeliveryReport */
/** @typedef {import('./core/http-api.js').AsyncBroadcast} AsyncBroadcast */
/** @typedef {import('./core/http-api.js').AsyncBroadcastReport} AsyncBroadcastReport */
/** @typedef {import('./core/http-api.js').FailedDelivery} FailedDelivery */
/** @typedef {import('./core/http-api.js').Stats} Stats */
/** @typedef {import('./core/http-api.js').ChannelStats} ChannelStats */
/** @typedef {import('./core/http-api.js').RetryBackoff} RetryBackoff */

/**
 * @typedef {object} PublisherOptions
 * @property {string} baseUrl the stage URL of the HTTP API: `http://127.0.0.1:3001/dev` locally,
 *   the stack's `HttpApiUrl` on AWS
 * @property {string | null} [token] the API token (`Authorization: Bearer`), if the gateway requires one
 * @property {number} [timeoutMs] how long one request may take, answer included (default 10000);
 *   a message whose answer did not come in time is not re-sent (it may have been delivered)
 * @property {number} [retries] re-sends at most, only of a request that never reached the gateway
 *   or of a 503 that says nothing was sent (default 2)
 * @property {Partial<RetryBackoff>} [backoff] the delays between them (default 100 ms doubling
 *   to 2 s, full jitter)
 * @property {number} [followTimeoutMs] how long `broadcast` and `publish` follow a broadcast the
 *   gateway chose to deliver asynchronously (202, when its `BROADCAST_ASYNC_THRESHOLD` is set) to
 *   its final report (default 60000; 0 reads it once); past it they reject with BroadcastPending
 * @property {typeof fetch} [fetch] the fetch to use (default `globalThis.fetch`)
 */

/**
 * @typedef {object} CallOptions
 * @property {AbortSignal} [signal] abort the call (the publisher's own timeout still applies)
 */

/**
 * @typedef {object} WaitOptions
 * @property {number} [timeoutMs] reject with BroadcastPending after this long (default 60000)
 * @property {number} [pollMs] the longest pause between two reads (default 1000; 50 ms at first,
 *   doubling)
 * @property {AbortSignal} [signal] abort the wait
 */

/** Error codes of Node's fetch (undici) that prove the request never left: safe to re-send. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Whether a request fetch failed on can have reached the gateway. Only a failure to open the
 * connection (refused, DNS, connect timeout) proves the request never left: a message is re-sent
 * only then.
 * @param {unknown} error
 * @param {boolean} timedOut the publisher's own timeout fired
 * @returns {import('./core/http-api.js').Reach}
 */
function reachOf(error, timedOut) {
  if (timedOut) return 'maybe-reached';
  const cause = /** @type {any} */ (error)?.cause;
  const code = cause?.code ?? cause?.errno;
  if (typeof code === 'string' && NOT_SENT_CODES.has(code)) return 'not-reached-transient';
  return 'maybe-reached';
}

/** The publisher of ws-bridge's HTTP API. Safe to share: one per process is enough. */
export class WsBridgePublisher {
  /** @type {string} */ #baseUrl;
  /** @type {string | null} */ #token;
  /** @type {number} */ #timeoutMs;
  /** @type {number} */ #retries;
  /** @type {RetryBackoff} */ #backoff;
  /** @type {number} */ #followTimeoutMs;
  /** @type {typeof fetch} */ #fetch;

  /** @param {PublisherOptions} options */
  constructor(options) {
    const what = 'WsBridgePublisher';
    const baseUrl = httpBase(options?.baseUrl, `${what}: baseUrl`);
    if (baseUrl === null) throw new TypeError(`${what}: baseUrl is required, e.g. http://127.0.0.1:3001/dev`);
    this.#baseUrl = baseUrl;
    const token = options.token ?? null;
    if (token !== null && (typeof token !== 'string' || token === '')) {
      throw new TypeError(`${what}: token must be a non-empty string or null`);
    }
    this.#token = token;
    this.#timeoutMs = nonNegative(options.timeoutMs, api.DEFAULT_TIMEOUT_MS, 'timeoutMs', what);
    this.#retries = nonNegative(options.retries, api.DEFAULT_RETRIES, 'retries', what);
    if (!Number.isInteger(this.#retries)) throw new TypeError(`${what}: retries must be an integer >= 0`);
    const initialMs = nonNegative(options.backoff?.initialMs, api.DEFAULT_BACKOFF.initialMs, 'backoff.initialMs', what);
    const maxMs = nonNegative(
      options.backoff?.maxMs,
      Math.max(initialMs, api.DEFAULT_BACKOFF.maxMs),
      'backoff.maxMs',
      what,
    );
    if (maxMs < initialMs) throw new TypeError(`${what}: backoff.maxMs must be at least backoff.initialMs`);
    this.#backoff = { initialMs, maxMs };
    this.#followTimeoutMs = nonNegative(
      options.followTimeoutMs,
      api.DEFAULT_FOLLOW_TIMEOUT_MS,
      'followTimeoutMs',
      what,
    );
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function')
      throw new TypeError(`${what}: no fetch; Node >= 20 has one, or pass options.fetch`);
    this.#fetch = fetchImpl;
  }

  /**
   * One message to every open connection. Resolves to the DeliveryReport; if the gateway chose
   * to deliver asynchronously (202), to the completed AsyncBroadcastReport (counts, with its
   * `broadcastId`), followed for at most `followTimeoutMs`, else rejects with BroadcastPending.
   * @param {Record<string, unknown>} event a JSON object, delivered verbatim
   * @param {CallOptions} [options]
   * @returns {Promise<DeliveryReport | AsyncBroadcastReport>}
   */
  broadcast(event, options) {
    return this.#follow(() => api.broadcast(event), options);
  }

  /**
   * One message to a channel's subscribers; on a channel with history the report has its `seq`
   * and `epoch`. A 202 is followed as `broadcast` does.
   * @param {string} channel
   * @param {Record<string, unknown>} event
   * @param {CallOptions} [options]
   * @returns {Promise<DeliveryReport | AsyncBroadcastReport>}
   */
  publish(channel, event, options) {
    return this.#follow(() => api.publish(channel, event), options);
  }

  /**
   * One message to every open connection, asynchronously (`Prefer: respond-async`): resolves at
   * once to the accepted AsyncBroadcast (its `broadcastId` for `waitForBroadcast`). A gateway
   * without a queue may ignore the preference, as RFC 7240 allows, and deliver at once: the
   * DeliveryReport is then returned.
   * @param {Record<string, unknown>} event
   * @param {CallOptions} [options]
   * @returns {Promise<AsyncBroadcast | DeliveryReport>}
   */
  broadcastAsync(event, options) {
    return this.#run(() => api.broadcast(event, true), options);
  }

  /**
   * One message to a channel's subscribers, asynchronously (as `broadcastAsync`); on a channel
   * with history the AsyncBroadcast has its `seq` and `epoch`.
   * @param {string} channel
   * @param {Record<string, unknown>} event
   * @param {CallOptions} [options]
   * @returns {Promise<AsyncBroadcast | DeliveryReport>}
   */
  publishAsync(channel, event, options) {
    return this.#run(() => api.publish(channel, event, true), options);
  }

  /**
   * An asynchronous broadcast's report so far, or the final one (`status: 'completed'`);
   * BroadcastNotFound for an unknown id.
   * @param {string} broadcastId
   * @param {CallOptions} [options]
   * @returns {Promise<AsyncBroadcastReport>}
   */
  broadcastReport(broadcastId, options) {
    return this.#run(() => api.broadcastReport(broadcastId), options);
  }

  /**
   * Reads the report until the broadcast is completed (resolved), at most every `pollMs` (sooner
   * at first); rejects with BroadcastPending after `timeoutMs`, BroadcastNotFound for an unknown id.
   * @param {string} broadcastId
   * @param {WaitOptions} [options]
   * @returns {Promise<AsyncBroadcastReport>}
   */
  waitForBroadcast(broadcastId, options = {}) {
    const what = 'waitForBroadcast';
    return this.#drive(() => {
      const timeoutMs = nonNegative(options.timeoutMs, api.DEFAULT_WAIT_TIMEOUT_MS, 'timeoutMs', what);
      const pollMs = nonNegative(options.pollMs, api.DEFAULT_POLL_MS, 'pollMs', what);
      if (pollMs === 0) throw new TypeError(`${what}: pollMs must be positive`);
      return api.wait(broadcastId, timeoutMs, pollMs, this.#retries, this.#backoff);
    }, options);
  }

  /**
   * One message to every connection of a user (the token's `sub`).
   * @param {string} userId
   * @param {Record<string, unknown>} event
   * @param {CallOptions} [options]
   * @returns {Promise<DeliveryReport>}
   */
  sendToUser(userId, event, options) {
    return this.#run(() => api.sendToUser(userId, event), options);
  }

  /**
   * One message to one connection: ConnectionGone when it no longer exists, DeliveryFailed when
   * it could not take it.
   * @param {string} connectionId
   * @param {Record<string, unknown>} event
   * @param {CallOptions} [options]
   * @returns {Promise<DeliveryReport>}
   */
  sendToConnection(connectionId, event, options) {
    return this.#run(() => api.sendToConnection(connectionId, event), options);
  }

  /**
   * Open connections, or a channel's subscribers.
   * @param {string} [channel]
   * @param {CallOptions} [options]
   * @returns {Promise<number>}
   */
  count(channel, options) {
    return this.#run(() => api.count(channel), options);
  }

  /**
   * Connections and channels, largest first, at most `limit` channels (1 to 1000).
   * @param {number} [limit]
   * @param {CallOptions} [options]
   * @returns {Promise<Stats>}
   */
  stats(limit, options) {
    return this.#run(() => api.stats(limit), options);
  }

  /**
   * @template T
   * @param {() => import('./core/http-api.js').Call<T>} build
   * @param {CallOptions} [options]
   * @returns {Promise<T>}
   */
  #run(build, options) {
    return this.#drive(() => api.perform(build(), this.#retries, this.#backoff), options);
  }

  /**
   * @param {() => import('./core/http-api.js').Call<DeliveryReport | AsyncBroadcast>} build
   * @param {CallOptions} [options]
   * @returns {Promise<DeliveryReport | AsyncBroadcastReport>}
   */
  #follow(build, options) {
    return this.#drive(
      () => api.follow(build(), this.#followTimeoutMs, api.DEFAULT_POLL_MS, this.#retries, this.#backoff),
      options,
    );
  }

  /**
   * Runs a flow of core/http-api.js: sends the requests it yields, sleeps when it says.
   * @template T
   * @param {() => Generator<import('./core/http-api.js').ApiRequest | import('./core/http-api.js').Sleep, T, import('./core/http-api.js').Outcome | undefined>} start
   * @param {CallOptions} [options]
   * @returns {Promise<T>}
   */
  async #drive(start, options = {}) {
    // Bad arguments reject (nothing is sent), as every other failure does.
    const flow = start();
    let step = flow.next();
    while (!step.done) {
      const asked = step.value;
      /** @type {import('./core/http-api.js').Outcome | undefined} */
      let outcome;
      if ('kind' in asked) {
        await new Promise((resolve) => setTimeout(resolve, asked.ms));
      } else {
        outcome = await this.#send(asked, options.signal);
      }
      step = flow.next(outcome);
    }
    return step.value;
  }

  /**
   * @param {import('./core/http-api.js').ApiRequest} request
   * @param {AbortSignal | undefined} signal
   * @returns {Promise<import('./core/http-api.js').Outcome>}
   */
  async #send(request, signal) {
    signal?.throwIfAborted();
    /** @type {Record<string, string>} */
    const headers = { accept: 'application/json' };
    if (request.body !== null) headers['content-type'] = 'application/json';
    if (this.#token !== null) headers.authorization = `Bearer ${this.#token}`;
    if (request.preferAsync) headers.prefer = 'respond-async';
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    try {
      const response = await this.#fetch(this.#baseUrl + request.path, {
        method: request.method,
        headers,
        body: request.body,
        cache: 'no-store',
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
      });
      return { kind: 'response', status: response.status, text: await response.text() };
    } catch (error) {
      // The caller's own abort is no transport failure: it is rethrown as is.
      if (signal?.aborted) throw signal.reason;
      return { kind: 'failure', error, reach: reachOf(error, timeout.aborted) };
    }
  }
}
