/**
 * Statuses after which a handshake is retried once with a fresh token, then given up, where the
 * WebSocket implementation shows the status (Node's `ws`).
 */
export declare const REFUSED_STATUSES: Set<number>;
/** Statuses that mean the token is not accepted (a browser learns them from the HTTP API). */
export declare const UNAUTHORIZED_STATUSES: Set<number>;
/** A random id for one handshake: base64url of 16 random bytes (22 characters). */
export declare function newAttemptId(): string;
/**
 * The URL of one handshake: the token, the client id and the attempt id as query parameters.
 * @param {string} base the gateway's WebSocket URL
 * @param {{ token: unknown, clientId: string | undefined, attemptId: string | null }} params
 */
export declare function handshakeUrl(
  base: string,
  {
    token,
    clientId,
    attemptId,
  }: {
    token: unknown;
    clientId: string | undefined;
    attemptId: string | null;
  },
): string;
/**
 * The HTTP status of a refused handshake, where the WebSocket implementation tells it
 * (the `ws` package: "Unexpected server response: 401"). Browsers never do.
 * @param {string | null} message
 */
export declare function statusFromError(message: string | null): number | null;
export type SocketEvents = {
  open: () => void;
  frame: (data: unknown) => void;
  close: (code: number, reason: string, errorMessage: string | null) => void;
};
/**
 * @typedef {object} SocketEvents what the client is told of one socket
 * @property {() => void} open
 * @property {(data: unknown) => void} frame
 * @property {(code: number, reason: string, errorMessage: string | null) => void} close
 */
/**
 * Listen to a socket's events; `close` also gets the error message `ws` gave before it (browsers
 * give none).
 * @param {any} socket
 * @param {SocketEvents} events
 */
export declare function watchSocket(socket: any, events: SocketEvents): void;
/**
 * @param {any} socket
 * @returns {boolean}
 */
export declare function isOpen(socket: any): boolean;
/**
 * Drop a socket without waiting for its close handshake: `ws` can terminate at once; browsers close.
 * @param {any} socket
 * @param {number} code
 * @param {string} reason
 */
export declare function dropSocket(socket: any, code: number, reason: string): void;
/**
 * Close a socket with a code, or without one if the implementation refuses the code.
 * @param {any} socket
 * @param {number} code
 * @param {string} reason
 */
export declare function closeSocket(socket: any, code: number, reason: string): void;
/**
 * What `$connect` recorded for the handshake `attemptId`: its refusal's status, `null` when
 * nothing was recorded, or `'unreachable'` when the HTTP API did not answer. The route always
 * answers 200, so asking leaves nothing in a browser's console.
 * @param {string} statusUrl the HTTP API base
 * @param {string} attemptId
 * @param {number} timeoutMs
 * @returns {Promise<number | null | 'unreachable'>}
 */
export declare function askHandshakeStatus(
  statusUrl: string,
  attemptId: string,
  timeoutMs: number,
): Promise<number | null | 'unreachable'>;
