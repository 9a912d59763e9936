import { WsBridgeApiError } from '../api-errors.js';
export type FailedDelivery = {
  connectionId: string;
  /**
   * the gateway's reason, e.g. `LimitExceededException: …`
   */
  error: string;
};
export type DeliveryReport = {
  /**
   * connections the message was addressed to
   */
  connectionCount: number;
  /**
   * how many received it
   */
  sent: number;
  /**
   * connections that no longer existed; the gateway removed them
   */
  gone: string[];
  /**
   * connections it could not be delivered to, with the reason
   */
  failed: FailedDelivery[];
  /**
   * on a channel with history: the message's sequence number
   */
  seq?: number;
  /**
   * on a channel with history: the numbering `seq` belongs to
   */
  epoch?: string;
};
export type AsyncBroadcast = {
  broadcastId: string;
  /**
   * `running` when accepted
   */
  status: string;
  /**
   * how many shards the audience was cut into
   */
  shardCount: number;
  /**
   * on a channel with history: the message's number, taken once
   */
  seq?: number;
  /**
   * on a channel with history: the numbering `seq` belongs to
   */
  epoch?: string;
};
export type AsyncBroadcastReport = {
  broadcastId: string;
  /**
   * `running`, or `completed` once every shard is done
   */
  status: string;
  shardCount: number;
  shardsDone: number;
  connectionCount: number;
  sent: number;
  /**
   * connections that no longer existed (410); the gateway removed them
   */
  gone: number;
  failed: number;
  /**
   * of `failed`: recipients of a page a worker was sending when it
   * died; not sent again, so nobody gets the message twice; some of them may have received it
   */
  unconfirmed: number;
  throttleRetries: number;
  throttledMs: number;
  channel?: string;
  seq?: number;
  epoch?: string;
};
export type ChannelStats = {
  name: string;
  subscribers: number;
};
export type Stats = {
  connections: number;
  channels: ChannelStats[];
  /**
   * how many channels have subscribers (`channels` may be cut at the limit)
   */
  channelCount: number;
  /**
   * whether `channels` was cut at the limit
   */
  truncated: boolean;
};
export type ApiRequest = {
  method: 'GET' | 'POST';
  /**
   * percent-encoded, under the stage URL, starting with `/`
   */
  path: string;
  /**
   * JSON text
   */
  body: string | null;
  /**
   * the routes that deliver a message: never re-sent once it may
   * have arrived
   */
  sendsMessage: boolean;
  /**
   * sends `Prefer: respond-async` (RFC 7240): deliver
   * asynchronously, answer 202
   */
  preferAsync?: boolean;
};
export type Call<T> = {
  request: ApiRequest;
  parse: (status: number, text: string) => T;
};
export type Reach = 'not-reached-transient' | 'not-reached' | 'maybe-reached';
export type Outcome =
  | {
      kind: 'response';
      status: number;
      text: string;
    }
  | {
      kind: 'failure';
      error: unknown;
      reach: Reach;
    };
export type Sleep = {
  kind: 'sleep';
  ms: number;
};
export type RetryBackoff = {
  initialMs: number;
  maxMs: number;
};
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
export declare const DEFAULT_TIMEOUT_MS = 10000;
/** Re-sends of a request that may be re-sent, by default. */
export declare const DEFAULT_RETRIES = 2;
/** @type {RetryBackoff} */
export declare const DEFAULT_BACKOFF: RetryBackoff;
/** Milliseconds `broadcast`/`publish` follow a 202 they did not ask for, by default. */
export declare const DEFAULT_FOLLOW_TIMEOUT_MS = 60000;
/** Milliseconds `waitForBroadcast` waits for completion, by default. */
export declare const DEFAULT_WAIT_TIMEOUT_MS = 60000;
/** The longest pause between two reads of an asynchronous broadcast's report, by default. */
export declare const DEFAULT_POLL_MS = 1000;
/**
 * The event as the JSON object the gateway delivers verbatim. Throws a TypeError for anything but
 * a plain object, or for what JSON cannot hold (NaN, infinities, BigInt): nothing is sent.
 * @param {unknown} event
 * @returns {string}
 */
export declare function encodeEvent(event: unknown): string;
/**
 * `value` percent-encoded as one path segment (`:` `@` `|` `=` `/` included).
 * @param {unknown} value
 * @param {string} what
 */
export declare function pathSegment(value: unknown, what: string): string;
/**
 * 200: the report; 202: the accepted broadcast, whatever made the gateway choose it (asked, or
 * its `BROADCAST_ASYNC_THRESHOLD`).
 * @param {unknown} event
 * @param {boolean} [preferAsync]
 */
export declare const broadcast: (event: unknown, preferAsync?: boolean) => Call<AsyncBroadcast | DeliveryReport>;
/**
 * @param {string} channel
 * @param {unknown} event
 * @param {boolean} [preferAsync]
 */
export declare const publish: (
  channel: string,
  event: unknown,
  preferAsync?: boolean,
) => Call<AsyncBroadcast | DeliveryReport>;
/**
 * `GET /broadcasts/{id}`: an asynchronous broadcast's report so far, or the final one.
 * @param {string} broadcastId
 * @returns {Call<AsyncBroadcastReport>}
 */
export declare function broadcastReport(broadcastId: string): Call<AsyncBroadcastReport>;
/**
 * @param {string} userId
 * @param {unknown} event
 */
export declare const sendToUser: (userId: string, event: unknown) => Call<DeliveryReport>;
/**
 * @param {string} connectionId
 * @param {unknown} event
 */
export declare const sendToConnection: (connectionId: string, event: unknown) => Call<DeliveryReport>;
/**
 * @param {string} [channel] that channel's subscribers; all connections when not given
 * @returns {Call<number>}
 */
export declare function count(channel?: string): Call<number>;
/**
 * @param {number} [limit] at most this many channels, 1 to 1000 (the gateway's default 100)
 * @returns {Call<Stats>}
 */
export declare function stats(limit?: number): Call<Stats>;
/**
 * A DeliveryReport from the gateway's `{"connectionCount":…}` JSON.
 * @param {unknown} payload
 * @returns {DeliveryReport}
 */
export declare function reportFromJson(payload: unknown): DeliveryReport;
/**
 * An AsyncBroadcast from the 202's `{"broadcastId":…}` JSON.
 * @param {unknown} payload
 * @returns {AsyncBroadcast}
 */
export declare function acceptedFromJson(payload: unknown): AsyncBroadcast;
/**
 * An AsyncBroadcastReport from `GET /broadcasts/{id}`'s JSON.
 * @param {unknown} payload
 * @returns {AsyncBroadcastReport}
 */
export declare function asyncReportFromJson(payload: unknown): AsyncBroadcastReport;
/**
 * True when no connection was reached at all: nothing sent, none gone, none failed.
 * @param {DeliveryReport} report
 */
export declare function nothingAttempted(report: DeliveryReport): boolean;
/**
 * The error for a non-2xx answer.
 * @param {number} status
 * @param {string} text
 * @param {string | null} [connectionId] for `/connections/{id}`
 * @returns {WsBridgeApiError}
 */
export declare function errorFor(status: number, text: string, connectionId?: string | null): WsBridgeApiError;
/**
 * The delay before retry number `attempt` (0 for the first).
 * @param {RetryBackoff} backoff
 * @param {number} attempt
 */
export declare function retryDelay(backoff: RetryBackoff, attempt: number): number;
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
export declare function perform<T>(
  call: Call<T>,
  retries: number,
  backoff: RetryBackoff,
): Generator<ApiRequest | Sleep, T, Outcome | undefined>;
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
export declare function wait(
  broadcastId: string,
  timeoutMs: number,
  pollMs: number,
  retries: number,
  backoff: RetryBackoff,
  now?: () => number,
): Generator<ApiRequest | Sleep, AsyncBroadcastReport, Outcome | undefined>;
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
export declare function follow(
  call: Call<DeliveryReport | AsyncBroadcast>,
  timeoutMs: number,
  pollMs: number,
  retries: number,
  backoff: RetryBackoff,
): Generator<ApiRequest | Sleep, DeliveryReport | AsyncBroadcastReport, Outcome | undefined>;
