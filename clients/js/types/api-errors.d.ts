export type DeliveryReport = import('./core/http-api.js').DeliveryReport;
export type AsyncBroadcastReport = import('./core/http-api.js').AsyncBroadcastReport;
/** @typedef {import('./core/http-api.js').DeliveryReport} DeliveryReport */
/** @typedef {import('./core/http-api.js').AsyncBroadcastReport} AsyncBroadcastReport */
/** Base of every error of the publisher: the gateway's `message` and the HTTP `status` (or null). */
export declare class WsBridgeApiError extends Error {
  /**
   * The HTTP status of the answer, or null when there was none.
   * @readonly @type {number | null}
   */
  status: number | null;
  /**
   * The gateway's own message (`message` adds the status to it).
   * @readonly @type {string}
   */
  reason: string;
  /**
   * @param {string} message
   * @param {number | null} [status]
   * @param {{ cause?: unknown }} [options]
   */
  constructor(
    message: string,
    status?: number | null,
    options?: {
      cause?: unknown;
    },
  );
}
/** 400: the gateway refused the request (bad body, invalid channel name); nothing was sent. */
export declare class BadRequest extends WsBridgeApiError {
  /** @param {string} message */
  constructor(message: string);
}
/** 401: the API token is missing or wrong; nothing was sent. */
export declare class Unauthorized extends WsBridgeApiError {
  /** @param {string} message */
  constructor(message: string);
}
/** 404 from `sendToConnection`: the connection no longer exists (the gateway removed it). */
export declare class ConnectionGone extends WsBridgeApiError {
  /** @readonly @type {string} */
  connectionId: string;
  /**
   * @param {string} message
   * @param {string} connectionId
   */
  constructor(message: string, connectionId: string);
}
/**
 * 502 from `sendToConnection`: the message could not be delivered (e.g. throttled); `report`
 * names the connection under `failed`.
 */
export declare class DeliveryFailed extends WsBridgeApiError {
  /** @readonly @type {DeliveryReport} */
  report: DeliveryReport;
  /**
   * @param {string} message
   * @param {DeliveryReport} report
   */
  constructor(message: string, report: DeliveryReport);
}
/**
 * 503: the gateway's connection store failed. For a message, `report` is the partial report of
 * what was sent before the failure (nothing is hidden); for `count()` and `stats()` it is null.
 */
export declare class Unavailable extends WsBridgeApiError {
  /** @readonly @type {DeliveryReport | null} */
  report: DeliveryReport | null;
  /**
   * @param {string} message
   * @param {DeliveryReport | null} report
   */
  constructor(message: string, report: DeliveryReport | null);
}
/**
 * The request got no HTTP answer (connection refused after the retries, a timeout, …).
 * `maybeSent` is true when a message may have reached the gateway (the request was sent but the
 * answer never came, e.g. a timeout while waiting for it): such a request is never re-sent, as
 * that could deliver the message twice. `cause` is fetch's error.
 */
export declare class TransportError extends WsBridgeApiError {
  /** @readonly @type {boolean} */
  maybeSent: boolean;
  /**
   * @param {string} message
   * @param {boolean} maybeSent
   * @param {unknown} cause
   */
  constructor(message: string, maybeSent: boolean, cause: unknown);
}
/** 404 from `broadcastReport`/`waitForBroadcast`: no broadcast has this id (progress is kept a week). */
export declare class BroadcastNotFound extends WsBridgeApiError {
  /** @readonly @type {string} */
  broadcastId: string;
  /**
   * @param {string} message
   * @param {string} broadcastId
   */
  constructor(message: string, broadcastId: string);
}
/**
 * An accepted asynchronous broadcast whose final report was not had in time: thrown by
 * `waitForBroadcast` after its timeout, and by `broadcast`/`publish` when the gateway answered
 * 202 and the report could not be followed to completion (`followTimeoutMs` passed, or reading
 * it failed: `cause` says why). The message was accepted and is being delivered: **do not send
 * it again**; follow it later with `waitForBroadcast(broadcastId)`. `report` is the last report
 * read, or null.
 */
export declare class BroadcastPending extends WsBridgeApiError {
  /** @readonly @type {string} */
  broadcastId: string;
  /** @readonly @type {AsyncBroadcastReport | null} */
  report: AsyncBroadcastReport | null;
  /**
   * @param {string} message
   * @param {string} broadcastId
   * @param {AsyncBroadcastReport | null} report
   * @param {{ cause?: unknown }} [options]
   */
  constructor(
    message: string,
    broadcastId: string,
    report: AsyncBroadcastReport | null,
    options?: {
      cause?: unknown;
    },
  );
}
