// The WebSocket itself: the handshake's URL, opening a socket and watching its events, closing it,
// and what a failed handshake tells (the status `ws` shows, or the one a browser asks the HTTP API
// for). The client's state machine (ws-bridge.js) decides what to do with it.
//
// SPDX-License-Identifier: MIT OR Apache-2.0

import { isObject } from './core/protocol.js';

/**
 * Statuses after which a handshake is retried once with a fresh token, then given up, where the
 * WebSocket implementation shows the status (Node's `ws`).
 */
export const REFUSED_STATUSES = new Set([400, 401, 403]);

/** Statuses that mean the token is not accepted (a browser learns them from the HTTP API). */
export const UNAUTHORIZED_STATUSES = new Set([401, 403]);

/** The handshake's query parameter naming the attempt (see `statusUrl`). */
const ATTEMPT_PARAM = 'ws_bridge_attempt';

/** The socket's readyState while open. */
const OPEN = 1;

/** A random id for one handshake: base64url of 16 random bytes (22 characters). */
export function newAttemptId() {
  const bytes = new Uint8Array(16);
  const crypto = /** @type {any} */ (globalThis).crypto;
  if (crypto && typeof crypto.getRandomValues === 'function') crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i += 1) bytes[i] = Math.floor(Math.random() * 256);
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * The URL of one handshake: the token, the client id and the attempt id as query parameters.
 * @param {string} base the gateway's WebSocket URL
 * @param {{ token: unknown, clientId: string | undefined, attemptId: string | null }} params
 */
export function handshakeUrl(base, { token, clientId, attemptId }) {
  const url = new URL(base);
  if (token != null && token !== '') url.searchParams.set('token', String(token));
  if (clientId != null) url.searchParams.set('clientId', clientId);
  if (attemptId !== null) url.searchParams.set(ATTEMPT_PARAM, attemptId);
  return url.href;
}

/**
 * The HTTP status of a refused handshake, where the WebSocket implementation tells it
 * (the `ws` package: "Unexpected server response: 401"). Browsers never do.
 * @param {string | null} message
 */
export function statusFromError(message) {
  const match = message && /Unexpected server response: (\d{3})/.exec(message);
  return match ? Number(match[1]) : null;
}

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
export function watchSocket(socket, events) {
  /** @type {string | null} */
  let errorMessage = null;
  socket.addEventListener('open', () => events.open());
  socket.addEventListener('message', (/** @type {MessageEvent} */ event) => events.frame(event.data));
  socket.addEventListener('error', (/** @type {any} */ event) => {
    // Browsers say nothing here; `ws` tells the reason, e.g. "Unexpected server response: 401".
    if (typeof event?.message === 'string' && event.message !== '') errorMessage = event.message;
    else if (event?.error instanceof Error) errorMessage = event.error.message;
  });
  socket.addEventListener('close', (/** @type {CloseEvent} */ event) =>
    events.close(event.code, event.reason, errorMessage),
  );
}

/**
 * @param {any} socket
 * @returns {boolean}
 */
export function isOpen(socket) {
  return socket !== null && socket.readyState === OPEN;
}

/**
 * Drop a socket without waiting for its close handshake: `ws` can terminate at once; browsers close.
 * @param {any} socket
 * @param {number} code
 * @param {string} reason
 */
export function dropSocket(socket, code, reason) {
  try {
    if (typeof socket.terminate === 'function') socket.terminate();
    else socket.close(code, reason);
  } catch {
    // Already closing.
  }
}

/**
 * Close a socket with a code, or without one if the implementation refuses the code.
 * @param {any} socket
 * @param {number} code
 * @param {string} reason
 */
export function closeSocket(socket, code, reason) {
  try {
    socket.close(code, reason);
  } catch {
    try {
      socket.close();
    } catch {
      // Nothing more to do.
    }
  }
}

/**
 * What `$connect` recorded for the handshake `attemptId`: its refusal's status, `null` when
 * nothing was recorded, or `'unreachable'` when the HTTP API did not answer. The route always
 * answers 200, so asking leaves nothing in a browser's console.
 * @param {string} statusUrl the HTTP API base
 * @param {string} attemptId
 * @param {number} timeoutMs
 * @returns {Promise<number | null | 'unreachable'>}
 */
export async function askHandshakeStatus(statusUrl, attemptId, timeoutMs) {
  const controller = typeof AbortController === 'function' ? new AbortController() : null;
  const timer = setTimeout(() => controller?.abort(), timeoutMs);
  try {
    const response = await fetch(`${statusUrl}/handshakes/${encodeURIComponent(attemptId)}`, {
      cache: 'no-store',
      credentials: 'omit',
      signal: controller?.signal,
    });
    if (!response.ok) return null;
    const body = await response.json();
    return isObject(body) && Number.isInteger(body.status) ? body.status : null;
  } catch {
    return 'unreachable';
  } finally {
    clearTimeout(timer);
  }
}
