export type BackoffOptions = {
  /**
   * ceiling of the first delay, in ms (default 500)
   */
  initialMs?: number;
  /**
   * cap of every delay, in ms (default 30000)
   */
  maxMs?: number;
  /**
   * a connection open at least this long (ms) starts the schedule
   * again from initialMs when it closes (default 5000)
   */
  resetAfterMs?: number;
  /**
   * after a second refusal (401/403, learnt from `statusUrl`) in a
   * row, the delay before the next handshake is drawn from [refusedMs/2, refusedMs], doubling
   * with each further refusal (default 20000)
   */
  refusedMs?: number;
  /**
   * cap of the delays after refusals, in ms (default 300000)
   */
  refusedMaxMs?: number;
};
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
export declare class Backoff {
  initialMs: number;
  maxMs: number;
  resetAfterMs: number;
  refusedMs: number;
  refusedMaxMs: number;
  /** Handshakes tried since the last one that opened (the backoff step). */
  attempt: number;
  /** Consecutive handshakes refused (400, 401, 403) since the last one that opened. */
  refusals: number;
  /** @type {number | null} the status of the last refusal */
  lastRefusal: number | null;
  /** @param {BackoffOptions} options */
  constructor(options: BackoffOptions);
  /** A handshake succeeded: refusals are forgiven. */
  opened(): void;
  /**
   * A connection that was open is lost; one that stayed up long enough starts the schedule again.
   * @param {number} openForMs
   */
  lost(openForMs: number): void;
  /**
   * The next transient delay, drawn from [0, min(maxMs, initialMs · 2^attempt)]; the step is
   * taken.
   * @returns {{ attempt: number, delayMs: number }} the step the delay was drawn from, and the delay
   */
  next(): {
    attempt: number;
    delayMs: number;
  };
  /**
   * A refused token (401/403): the first refusal is retried at once (an expired token, usually);
   * further ones wait `refusedMs`, doubling up to `refusedMaxMs` (half of it at least: a handful
   * of handshakes a minute at most).
   * @returns {number} the delay in ms
   */
  refused(): number;
}
