// The request lane: what the application and the client itself want sent, in call order, with
// one request (hello, subscribe, unsubscribe, publish) in flight at a time and matched to its
// reply; frames that expect no reply go out as their turn comes. Bounded; timed out per request.
//
// SPDX-License-Identifier: MIT OR Apache-2.0

import { WsBridgeError } from './errors.js';
import { isOpen } from './transport.js';
import { isObject, isReplyTo, replyOutcome } from './core/protocol.js';

/** @typedef {import('./core/protocol.js').LaneAction} LaneAction */
/** @typedef {import('./core/sequencer.js').SentSubscribe} SentSubscribe */

/**
 * @typedef {object} PendingRequest
 * @property {string} frame the JSON text to send
 * @property {LaneAction | null} action what reply it waits for; null for a frame that waits for
 *   nothing
 * @property {boolean} internal sent by the client itself while setting a connection up
 * @property {boolean} raw sent with send(): its reply also goes to 'message' listeners
 * @property {boolean} ping a raw `{"action":"ping"}`, answered by a pong
 * @property {string[] | null} subscribe the channels of a subscribe made by the client (its frame,
 *   with `since`, is written when it is sent)
 * @property {SentSubscribe | null} sent that subscribe as written, until its reply
 * @property {boolean} background a gap fetch: dropped when the connection is lost (the
 *   re-subscribe fetches everything anyway)
 * @property {(value: any) => void} resolve
 * @property {(error: Error) => void} reject
 * @property {ReturnType<typeof setTimeout> | null} timer
 */

/**
 * @typedef {object} LaneHost what the lane asks of the client around it
 * @property {() => any} socket the socket it may write to once open, or null
 * @property {() => boolean} open the client reported 'open': the application's requests may go
 * @property {(channels: string[]) => { frame: string, sent: SentSubscribe }} writeSubscribe the
 *   frame of a subscribe, written as it is sent
 * @property {(sent: SentSubscribe, data: Record<string, any> | null) => void} endSubscribe a
 *   subscribe written by writeSubscribe was answered (its data) or failed (null)
 * @property {() => void} pingSent a raw ping went out: its pong is owed to the application
 * @property {(entry: PendingRequest, message: Record<string, any>, data: any) => void} answered a
 *   request succeeded, before its promise resolves
 * @property {(message: Record<string, any>) => void} rawReply the reply to a raw frame
 * @property {(entry: PendingRequest) => void} setUpTimedOut a set-up request had no reply: the
 *   connection is of no use
 */

export class RequestLane {
  /** Requests and frames waiting to be sent, in call order. */
  /** @type {PendingRequest[]} */ #queue = [];
  /** The one request sent and waiting for its reply. */
  /** @type {PendingRequest | null} */ #inflight = null;
  /** @type {number} */ #maxQueue;
  /** @type {number} */ #requestTimeoutMs;
  /** @type {LaneHost} */ #host;

  /**
   * @param {number} maxQueue requests and frames of the application that may wait
   * @param {number} requestTimeoutMs how long a request waits for its reply
   * @param {LaneHost} host
   */
  constructor(maxQueue, requestTimeoutMs, host) {
    this.#maxQueue = maxQueue;
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#host = host;
  }

  /** @param {string} what */
  checkRoom(what) {
    const waiting = this.#queue.filter((entry) => !entry.internal && !entry.background).length;
    if (waiting >= this.#maxQueue) {
      throw new WsBridgeError(
        `${what}: ${waiting} requests are already waiting to be sent (maxQueue ${this.#maxQueue}); not queued`,
        'QUEUE_FULL',
      );
    }
  }

  /**
   * Queue a request; it resolves with its reply's data.
   * @param {Record<string, unknown>} message
   * @param {LaneAction} action
   * @param {boolean} internal a set-up request (goes first)
   * @param {boolean} [background] a gap fetch (see PendingRequest)
   * @returns {Promise<any>}
   */
  request(message, action, internal, background = false) {
    return new Promise((resolve, reject) => {
      /** @type {PendingRequest} */
      const entry = {
        frame: JSON.stringify(message),
        action,
        internal,
        raw: false,
        ping: false,
        // A subscribe's `since` must be the position when it is sent, not when it was queued.
        subscribe: action === 'subscribe' ? /** @type {string[]} */ (message.channels) : null,
        sent: null,
        background,
        resolve,
        reject,
        timer: null,
      };
      if (internal || background) {
        // Set-up requests go before everything the application queued.
        this.#queue.unshift(entry);
      } else {
        this.checkRoom(action);
        this.#queue.push(entry);
      }
      this.pump();
    });
  }

  /**
   * Queue a raw frame of the application (`send()`).
   * @param {string} text
   * @param {LaneAction | null} action the request it is, if any (its reply is then waited for)
   * @param {boolean} ping
   */
  raw(text, action, ping) {
    this.checkRoom('send');
    this.#queue.push({
      frame: text,
      action,
      internal: false,
      raw: true,
      ping,
      subscribe: null,
      sent: null,
      background: false,
      resolve: () => {},
      reject: () => {},
      timer: null,
    });
    this.pump();
  }

  /** Send what can be sent: frames in call order, one request at a time. */
  pump() {
    const socket = this.#host.socket();
    if (!isOpen(socket)) return;
    while (this.#queue.length > 0) {
      const entry = this.#queue[0];
      // Until 'open' only the client's own set-up requests go out.
      if (!this.#host.open() && !entry.internal) return;
      // A request waits for the one in flight; a frame that expects no reply does not.
      if (entry.action !== null && this.#inflight !== null) return;
      this.#queue.shift();
      if (entry.subscribe !== null) {
        const { frame, sent } = this.#host.writeSubscribe(entry.subscribe);
        entry.frame = frame;
        entry.sent = sent;
      }
      try {
        socket.send(entry.frame);
      } catch {
        this.#endSubscribe(entry, null);
        this.#queue.unshift(entry);
        return;
      }
      if (entry.ping) {
        this.#host.pingSent();
      } else if (entry.action !== null) {
        this.#inflight = entry;
        entry.timer = setTimeout(() => this.#timedOut(entry), this.#requestTimeoutMs);
      }
    }
  }

  /**
   * A frame from the server: taken (true) when it answers the request in flight.
   * @param {Record<string, any>} message
   * @returns {boolean}
   */
  reply(message) {
    const entry = this.#inflight;
    if (entry === null || entry.action === null || !isReplyTo(message, entry.action)) return false;
    if (entry.timer !== null) clearTimeout(entry.timer);
    this.#inflight = null;
    const outcome = replyOutcome(message, entry.action);
    this.#endSubscribe(entry, outcome.ok && isObject(message.data) ? message.data : null);
    if (outcome.ok) {
      this.#host.answered(entry, message, outcome.data);
      entry.resolve(outcome.data);
    } else {
      entry.reject(new WsBridgeError(outcome.why, 'SERVER_ERROR', { frame: message }));
    }
    if (entry.raw) this.#host.rawReply(message);
    this.pump();
    return true;
  }

  /**
   * The connection is lost: gap fetches and set-up requests fail; a subscribe or unsubscribe in
   * flight is sent again on the next connection (idempotent); a publish in flight fails, as it
   * may or may not have reached the server.
   */
  connectionLost() {
    const inflight = this.#inflight;
    this.#inflight = null;
    if (inflight !== null) this.#endSubscribe(inflight, null);
    // Gap fetches are dropped: the re-subscribe on the next connection fetches every gap.
    const gapLost = () =>
      new WsBridgeError('the connection was lost; the re-subscribe fetches the gap', 'CONNECTION_LOST');
    for (const entry of this.#queue.filter((e) => e.background)) entry.reject(gapLost());
    this.#queue = this.#queue.filter((e) => !e.background);
    if (inflight !== null) {
      if (inflight.timer !== null) clearTimeout(inflight.timer);
      if (inflight.background) {
        inflight.reject(gapLost());
      } else if (inflight.internal) {
        inflight.reject(new WsBridgeError('the connection was lost during set-up', 'CONNECTION_LOST'));
      } else if (inflight.action === 'subscribe' || inflight.action === 'unsubscribe') {
        // Idempotent: sent again on the next connection.
        inflight.timer = null;
        this.#queue.unshift(inflight);
      } else if (!inflight.raw) {
        inflight.reject(
          new WsBridgeError(
            `the connection was lost before the ${inflight.action} was answered; it may or may not have reached the server`,
            'CONNECTION_LOST',
          ),
        );
      }
    }
    for (const entry of this.#queue.filter((e) => e.internal)) {
      entry.reject(new WsBridgeError('the connection was lost during set-up', 'CONNECTION_LOST'));
    }
    this.#queue = this.#queue.filter((e) => !e.internal);
  }

  /**
   * Reject everything in flight and waiting (the client is closed).
   * @param {Error} error
   */
  rejectAll(error) {
    const pending = this.#inflight === null ? this.#queue : [this.#inflight, ...this.#queue];
    this.#inflight = null;
    this.#queue = [];
    for (const entry of pending) {
      if (entry.timer !== null) clearTimeout(entry.timer);
      entry.reject(error);
    }
  }

  /** @param {PendingRequest} entry */
  #timedOut(entry) {
    if (this.#inflight !== entry) return;
    this.#inflight = null;
    this.#endSubscribe(entry, null);
    entry.reject(new WsBridgeError(`${entry.action}: no reply within ${this.#requestTimeoutMs} ms`, 'TIMEOUT'));
    if (entry.internal) {
      // A connection that cannot answer hello or subscribe is of no use: start again.
      this.#host.setUpTimedOut(entry);
    } else {
      this.pump();
    }
  }

  /**
   * @param {PendingRequest} entry
   * @param {Record<string, any> | null} data
   */
  #endSubscribe(entry, data) {
    const sent = entry.sent;
    if (sent === null) return;
    entry.sent = null;
    this.#host.endSubscribe(sent, data);
  }
}
