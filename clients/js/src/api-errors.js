// The errors of the server-side publisher (publisher.js), one class per answer of the HTTP API,
// as the Python client's ws_bridge exceptions are: each carries the gateway's message and the
// HTTP status.
//
// SPDX-License-Identifier: MIT OR Apache-2.0

/** @typedef {import('./core/http-api.js').DeliveryReport} DeliveryReport */
/** @typedef {import('./core/http-api.js').AsyncBroadcastReport} AsyncBroadcastReport */

/** Base of every error of the publisher: the gateway's `message` and the HTTP `status` (or null). */
export class WsBridgeApiError extends Error {
  /**
   * @param {string} message
   * @param {number | null} [status]
   * @param {{ cause?: unknown }} [options]
   */
  constructor(message, status = null, options = undefined) {
    super(status === null ? message : `${message} (HTTP ${status})`, options);
    /** @type {string} */
    this.name = 'WsBridgeApiError';
    /**
     * The HTTP status of the answer, or null when there was none.
     * @readonly @type {number | null}
     */
    this.status = status;
    /**
     * The gateway's own message (`message` adds the status to it).
     * @readonly @type {string}
     */
    this.reason = message;
  }
}

/** 400: the gateway refused the request (bad body, invalid channel name); nothing was sent. */
export class BadRequest extends WsBridgeApiError {
  /** @param {string} message */
  constructor(message) {
    super(message, 400);
    this.name = 'BadRequest';
  }
}

/** 401: the API token is missing or wrong; nothing was sent. */
export class Unauthorized extends WsBridgeApiError {
  /** @param {string} message */
  constructor(message) {
    super(message, 401);
    this.name = 'Unauthorized';
  }
}

/** 404 from `sendToConnection`: the connection no longer exists (the gateway removed it). */
export class ConnectionGone extends WsBridgeApiError {
  /**
   * @param {string} message
   * @param {string} connectionId
   */
  constructor(message, connectionId) {
    super(message, 404);
    this.name = 'ConnectionGone';
    /** @readonly @type {string} */
    this.connectionId = connectionId;
  }
}

/**
 * 502 from `sendToConnection`: the message could not be delivered (e.g. throttled); `report`
 * names the connection under `failed`.
 */
export class DeliveryFailed extends WsBridgeApiError {
  /**
   * @param {string} message
   * @param {DeliveryReport} report
   */
  constructor(message, report) {
    super(message, 502);
    this.name = 'DeliveryFailed';
    /** @readonly @type {DeliveryReport} */
    this.report = report;
  }
}

/**
 * 503: the gateway's connection store failed. For a message, `report` is the partial report of
 * what was sent before the failure (nothing is hidden); for `count()` and `stats()` it is null.
 */
export class Unavailable extends WsBridgeApiError {
  /**
   * @param {string} message
   * @param {DeliveryReport | null} report
   */
  constructor(message, report) {
    super(message, 503);
    this.name = 'Unavailable';
    /** @readonly @type {DeliveryReport | null} */
    this.report = report;
  }
}

/**
 * The request got no HTTP answer (connection refused after the retries, a timeout, …).
 * `maybeSent` is true when a message may have reached the gateway (the request was sent but the
 * answer never came, e.g. a timeout while waiting for it): such a request is never re-sent, as
 * that could deliver the message twice. `cause` is fetch's error.
 */
export class TransportError extends WsBridgeApiError {
  /**
   * @param {string} message
   * @param {boolean} maybeSent
   * @param {unknown} cause
   */
  constructor(message, maybeSent, cause) {
    super(message, null, { cause });
    this.name = 'TransportError';
    /** @readonly @type {boolean} */
    this.maybeSent = maybeSent;
  }
}

/** 404 from `broadcastReport`/`waitForBroadcast`: no broadcast has this id (progress is kept a week). */
export class BroadcastNotFound extends WsBridgeApiError {
  /**
   * @param {string} message
   * @param {string} broadcastId
   */
  constructor(message, broadcastId) {
    super(message, 404);
    this.name = 'BroadcastNotFound';
    /** @readonly @type {string} */
    this.broadcastId = broadcastId;
  }
}

/**
 * An accepted asynchronous broadcast whose final report was not had in time: thrown by
 * `waitForBroadcast` after its timeout, and by `broadcast`/`publish` when the gateway answered
 * 202 and the report could not be followed to completion (`followTimeoutMs` passed, or reading
 * it failed: `cause` says why). The message was accepted and is being delivered: **do not send
 * it again**; follow it later with `waitForBroadcast(broadcastId)`. `report` is the last report
 * read, or null.
 */
export class BroadcastPending extends WsBridgeApiError {
  /**
   * @param {string} message
   * @param {string} broadcastId
   * @param {AsyncBroadcastReport | null} report
   * @param {{ cause?: unknown }} [options]
   */
  constructor(message, broadcastId, report, options = undefined) {
    super(message, null, options);
    this.name = 'BroadcastPending';
    /** @readonly @type {string} */
    this.broadcastId = broadcastId;
    /** @readonly @type {AsyncBroadcastReport | null} */
    this.report = report;
  }
}
