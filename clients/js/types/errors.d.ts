export type WsBridgeErrorCode =
  | 'CLOSED'
  | 'QUEUE_FULL'
  | 'SERVER_ERROR'
  | 'TIMEOUT'
  | 'CONNECTION_LOST'
  | 'HANDSHAKE_REFUSED'
  | 'TOKEN'
  | 'INVALID_URL';
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
export declare class WsBridgeError extends Error {
  /** @type {'WsBridgeError'} */
  name: 'WsBridgeError';
  /** @readonly @type {WsBridgeErrorCode} */
  code: WsBridgeErrorCode;
  /**
   * The refused handshake's HTTP status, where known (shown by `ws`, or told by `statusUrl`).
   * @readonly @type {number | null}
   */
  status: number | null;
  /**
   * The server's error frame, for `SERVER_ERROR`.
   * @readonly @type {unknown}
   */
  frame: unknown;
  /**
   * @param {string} message
   * @param {WsBridgeErrorCode} code
   * @param {{ status?: number | null, frame?: unknown, cause?: unknown }} [extra]
   */
  constructor(
    message: string,
    code: WsBridgeErrorCode,
    extra?: {
      status?: number | null;
      frame?: unknown;
      cause?: unknown;
    },
  );
}
