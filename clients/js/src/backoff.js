// When to try the next handshake: capped exponential backoff with full jitter after a lost or
// failed connection, and slower, growing delays after refused tokens. No timers here: the client
// waits out the delays this returns.
//
// SPDX-License-Identifier: MIT OR Apache-2.0

import { nonNegative } from './core/protocol.js';

/**
 * @typedef {object} BackoffOptions
 * @property {number} [initialMs] ceiling of the first delay, in ms (default 500)
 * @property {number} [maxMs] cap of every delay, in ms (default 30000)
 * @property {number} [resetAfterMs] a connection open at least this long (ms) starts the schedule
 *   again from initialMs when it closes (default 5000)
 * @property {number} [refusedMs] after a second refusal (401/403, learnt from `statusUrl`) in a
 *   row, the delay before the next handshake is drawn from [refusedMs/2, refusedMs], doubling
 *   with each further refusal (default 20000)
 * @property {number} [refusedMaxMs] cap of the delays after refusals, in ms (default 300000)
 */

export class Backoff {
  /** Handshakes tried since the last one that opened (the backoff step). */
  attempt = 0;
  /** Consecutive handshakes refused (400, 401, 403) since the last one that opened. */
  refusals = 0;
  /** @type {number | null} the status of the last refusal */
  lastRefusal = null;

  /** @param {BackoffOptions} options */
  constructor(options) {
    this.initialMs = nonNegative(options.initialMs, 500, 'backoff.initialMs');
    this.maxMs = Math.max(this.initialMs, nonNegative(options.maxMs, 30_000, 'backoff.maxMs'));
    this.resetAfterMs = nonNegative(options.resetAfterMs, 5_000, 'backoff.resetAfterMs');
    this.refusedMs = nonNegative(options.refusedMs, 20_000, 'backoff.refusedMs');
    this.refusedMaxMs = Math.max(this.refusedMs, nonNegative(options.refusedMaxMs, 300_000, 'backoff.refusedMaxMs'));
  }

  /** A handshake succeeded: refusals are forgiven. */
  opened() {
    this.refusals = 0;
    this.lastRefusal = null;
  }

  /**
   * A connection that was open is lost; one that stayed up long enough starts the schedule again.
   * @param {number} openForMs
   */
  lost(openForMs) {
    if (openForMs >= this.resetAfterMs) this.attempt = 0;
  }

  /**
   * The next transient delay, drawn from [0, min(maxMs, initialMs · 2^attempt)]; the step is
   * taken.
   * @returns {{ attempt: number, delayMs: number }} the step the delay was drawn from, and the delay
   */
  next() {
    const attempt = this.attempt;
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(attempt, 30));
    this.attempt += 1;
    return { attempt, delayMs: Math.round(Math.random() * ceiling) };
  }

  /**
   * A refused token (401/403): the first refusal is retried at once (an expired token, usually);
   * further ones wait `refusedMs`, doubling up to `refusedMaxMs` (half of it at least: a handful
   * of handshakes a minute at most).
   * @returns {number} the delay in ms
   */
  refused() {
    this.refusals += 1;
    if (this.refusals < 2) return 0;
    const ceiling = Math.min(this.refusedMaxMs, this.refusedMs * 2 ** Math.min(this.refusals - 2, 30));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }
}
