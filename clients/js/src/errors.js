// The error of the browser client: one class, its `code` saying what kind.
//
// SPDX-License-Identifier: MIT OR Apache-2.0

/**
 * @typedef {'CLOSED' | 'QUEUE_FULL' | 'SERVER_ERROR' | 'TIMEOUT' | 'CONNECTION_LOST' | 'HANDSHAKE_REFUSED' | 'TOKEN' | 'INVALID_URL'} WsBridgeErrorCode
 * `CLOSED`: the client was closed (by close(), or after a fatal error) before the request was
 * answered. `QUEUE_FULL`: more than `maxQueue` requests would be waiting. `SERVER_ERROR`: the
 * server answered the request with an error frame (`frame` holds it). `TIMEOUT`: no reply within
 * `requestTimeoutMs`. `CONNECTION_LOST`: the connection was lost while a publish was in flight; it
 * may or may not have been delivered. `HANDSHAKE_REFUSED`: the client stopped after refused
 * handshakes (a status shown by the WebSocket implementation twice in a row, a 400, or the token
 * provider returned no token after a refusal). `TOKEN`: the token provider threw or rejected (the
 * client backs off and asks again). `INVALID_URL`: the WebSocket constructor refused the URL (e.g.
 * ws:// from an https:// page); the client stopped.
 */

/** An error of this client; `code` says what kind. */
export class WsBridgeError extends Error {
  /**
   * @param {string} message
   * @param {WsBridgeErrorCode} code
   * @param {{ status?: number | null, frame?: unknown, cause?: unknown }} [extra]
   */
  constructor(message, code, extra = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    /** @type {'WsBridgeError'} */
    this.name = 'WsBridgeError';
    /** @readonly @type {WsBridgeErrorCode} */
    this.code = code;
    /**
     * The refused handshake's HTTP status, where known (shown by `ws`, or told by `statusUrl`).
     * @readonly @type {number | null}
     */
    this.status = extra.status ?? null;
    /**
     * The server's error frame, for `SERVER_ERROR`.
     * @readonly @type {unknown}
     */
    this.frame = extra.frame;
  }
}
