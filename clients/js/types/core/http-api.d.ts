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
/** @param {unknown} event */
export declare const broadcast: (event: unknown) => Call<DeliveryReport>;
/**
 * @param {string} channel
 * @param {unknown} event
 */
export declare const publish: (channel: string, event: unknown) => Call<DeliveryReport>;
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
