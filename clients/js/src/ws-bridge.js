// @ws-bridge/client: the browser (and Node) client of ws-bridge.
//
// ES modules, no dependencies, no build step. It keeps one WebSocket to a ws-bridge gateway
// alive: reconnects after every close it did not ask for (capped exponential backoff, full
// jitter), asks the token provider for a fresh token before every handshake, learns its
// connection id with `hello`, re-subscribes every channel it holds before reporting 'open', sends
// `{"action":"ping"}` as keep-alive, and matches the server's replies to
// subscribe/unsubscribe/publish requests. On channels with history (the gateway's
// HISTORY_CHANNELS) it remembers the last sequence number delivered and resumes from it on every
// re-subscribe, so the application sees each message once, in order, or a 'reset'. On presence
// channels (PRESENCE_CHANNELS) it keeps the member list (`members()`, the 'presence' event).
//
// This module is the connection's state machine and the public API; the rooms it relies on:
// core/protocol.js (frames and checks, no I/O), core/sequencer.js (channels with history),
// core/presence.js (presence channels' members),
// request-lane.js (requests and their replies), backoff.js (when to retry), transport.js (the
// socket and the handshake), errors.js.
//
// SPDX-License-Identifier: MIT OR Apache-2.0

import { Backoff } from './backoff.js';
import { HistorySequencer } from './core/sequencer.js';
import { PresenceTracker } from './core/presence.js';
import {
  LANE_ACTIONS,
  PING_FRAME,
  actionOf,
  channelList,
  httpBase,
  isObject,
  nonNegative,
  parseFrame,
  positionMap,
  heldChannels,
} from './core/protocol.js';
import { WsBridgeError } from './errors.js';
import { RequestLane } from './request-lane.js';
import {
  REFUSED_STATUSES,
  UNAUTHORIZED_STATUSES,
  askHandshakeStatus,
  closeSocket,
  dropSocket,
  handshakeUrl,
  newAttemptId,
  statusFromError,
  watchSocket,
} from './transport.js';

export { WsBridgeError };

/** @typedef {import('./errors.js').WsBridgeErrorCode} WsBridgeErrorCode */
/** @typedef {import('./backoff.js').BackoffOptions} BackoffOptions */
/** @typedef {import('./core/protocol.js').Position} Position */
/** @typedef {import('./core/protocol.js').MessageMeta} MessageMeta */
/** @typedef {import('./core/protocol.js').ResetDetail} ResetDetail */
/** @typedef {import('./core/protocol.js').PublishedData} PublishedData */
/** @typedef {import('./core/protocol.js').LaneAction} LaneAction */
/** @typedef {import('./core/protocol.js').Member} Member */
/** @typedef {import('./core/protocol.js').MemberPage} MemberPage */

/**
 * @typedef {object} PresenceDetail a presence channel's member list changed (a join, a leave, a
 *   fresh list from a subscribe or a reconnect)
 * @property {string} channel
 * @property {Member[]} members in user order
 */

/**
 * @typedef {object} PublishOptions
 * @property {boolean} [ephemeral] a typing indicator and the like: delivered to the channel's
 *   other subscribers, never numbered, stored or sent to webhooks
 */

/**
 * @typedef {'connecting' | 'open' | 'reconnecting' | 'closed'} WsBridgeState `connecting` until
 *   the first connection is set up, `open` while usable, `reconnecting` between connections,
 *   `closed` for good
 */

/**
 * @typedef {object} TokenContext what the token provider is told about the handshake it is asked
 *   a token for
 * @property {number} attempt the backoff step: retries since the last connection that stayed up (0 at first)
 * @property {'connect' | 'reconnect' | 'refused'} reason why a token is wanted: the first
 *   connection, a reconnect, or a retry after a refused handshake (do not return a cached token
 *   then; return null when there is no user any more: the client stops)
 */

/**
 * @typedef {string | null | undefined | ((context: TokenContext) => string | null | undefined | Promise<string | null | undefined>)} TokenOption
 *   a token, or a provider called before every handshake (null/undefined/'' → no `?token=`)
 */

/**
 * @typedef {object} WebSocketLike the part of the WebSocket API the client uses: browsers'
 *   `WebSocket`, `ws` and undici's qualify
 * @property {number} readyState
 * @property {(data: string) => void} send
 * @property {(code?: number, reason?: string) => void} close
 * @property {(type: string, listener: (event: any) => void) => void} addEventListener
 */

/** @typedef {new (url: string) => WebSocketLike} WebSocketConstructor */

/**
 * @typedef {object} WsBridgeOptions
 * @property {string} url the gateway's WebSocket URL, e.g. `ws://127.0.0.1:3001/dev` (ws: or wss:)
 * @property {string[]} [channels] channels to hold from the start; subscribed on every connection
 *   before `open`
 * @property {TokenOption} [token] a token, or a provider called before every handshake; sent as `?token=`
 * @property {string} [clientId] sent as `?clientId=`
 * @property {number} [keepAliveMs] `{"action":"ping"}` cadence while open, in ms; 0 turns
 *   keep-alive off (default 240000)
 * @property {BackoffOptions} [backoff] capped exponential backoff with full jitter
 * @property {number} [maxQueue] requests and frames that may wait to be sent while not open (default 100)
 * @property {number} [requestTimeoutMs] how long a subscribe/unsubscribe/publish waits for its
 *   reply, in ms (default 35000)
 * @property {number} [connectTimeoutMs] how long a handshake may take before it is abandoned and
 *   retried, in ms (default 30000)
 * @property {number} [pongTimeoutMs] how long a keep-alive ping may wait for its pong before the
 *   connection is taken for dead, in ms (default 30000)
 * @property {string} [statusUrl] the gateway's HTTP API base (`http://127.0.0.1:3001/dev`
 *   locally, the stack's `HttpApiUrl` on AWS). A browser cannot see why a handshake failed; with
 *   this set it asks `GET {statusUrl}/handshakes/{attempt id}` (the id it put on the handshake as
 *   `?ws_bridge_attempt=`), so that it can tell a refused token (401/403) from a transient
 *   failure. Without it, every failed handshake in a browser is taken as transient.
 * @property {number} [statusTimeoutMs] how long that question may take, in ms (default 5000)
 * @property {Record<string, Position>} [positions] where to resume channels with history from,
 *   e.g. `client.positions` saved before a page reload: the first subscribe of each named channel
 *   asks for what came after it
 * @property {number} [gapTimeoutMs] on a channel with history, how long a message that arrived
 *   ahead of a missing one waits for it before the client fetches the gap from the history, in ms
 *   (default 1000). A gap fetched once is never waited for again.
 * @property {WebSocketConstructor | (abstract new (...args: any[]) => unknown)} [WebSocket] the
 *   WebSocket class; default `globalThis.WebSocket`. In Node 20 pass `ws`'s default export.
 */

/**
 * @typedef {{ type?: string, [key: string]: unknown } | string} WsBridgeMessage a frame from the
 *   server: a broadcast is whatever JSON object the backend posted. On a channel with history it
 *   is the posted object too (the envelope's `data`); `seq` is in the MessageMeta.
 */

/**
 * @typedef {object} ConnectingDetail
 * @property {number} attempt
 * @property {TokenContext['reason']} reason
 */

/**
 * @typedef {object} OpenDetail
 * @property {string | null} connectionId
 * @property {string[]} channels
 */

/**
 * @typedef {object} ReconnectingDetail
 * @property {number} attempt the backoff step this delay was drawn from
 * @property {number} delayMs how long the client waits before the next handshake
 * @property {number | null} code the close code of the lost connection (1006 for a failed
 *   handshake; null for a timed-out handshake or a failed token provider)
 * @property {string} reason the close reason, or why the handshake failed
 * @property {number | null} status the failed handshake's HTTP status where known (shown by Node
 *   `ws`, or told by `statusUrl`), else null
 * @property {boolean} refused true when the handshake was refused (400/401/403) and the next one
 *   comes with a fresh token
 */

/**
 * @typedef {object} UnauthorizedDetail the gateway refused the token (401) or what it grants
 *   (403): e.g. log the user out
 * @property {number} status
 * @property {number} refusals refusals in a row, this one included
 * @property {string} reason
 */

/**
 * @typedef {object} ClosedDetail
 * @property {number | null} code the code sent by close(), or null when the client stopped on its own
 * @property {string} reason
 * @property {boolean} byClient true after the application's close()
 * @property {WsBridgeError | null} error why the client stopped on its own
 *   (`HANDSHAKE_REFUSED`, `INVALID_URL`), else null
 */

/**
 * @typedef {object} ErrorDetail
 * @property {'fatal' | 'token' | 'subscribe'} kind `fatal`: the client stopped (followed by
 *   `closed`); `token`: the provider failed (it backs off and retries); `subscribe`: a held
 *   channel was refused when re-subscribing after a reconnect
 * @property {string} message
 * @property {number | null} [status] the refused handshake's HTTP status, for `fatal` when visible
 * @property {string} [channel] the channel, for `subscribe`
 * @property {WsBridgeError} error
 */

/**
 * @typedef {object} WsBridgeEventMap
 * @property {ConnectingDetail} connecting
 * @property {OpenDetail} open
 * @property {ReconnectingDetail} reconnecting
 * @property {ClosedDetail} closed
 * @property {WsBridgeMessage} message
 * @property {ErrorDetail} error
 * @property {ResetDetail} reset
 * @property {UnauthorizedDetail} unauthorized
 * @property {PresenceDetail} presence
 */

/** @typedef {keyof WsBridgeEventMap} WsBridgeEventType */

/**
 * @template {WsBridgeEventType} K
 * @typedef {(event: CustomEvent<WsBridgeEventMap[K]> & { readonly meta?: MessageMeta }) => void} WsBridgeEventListener
 *   a 'message' event of a channel with history also carries `event.meta` (a MessageMeta)
 */

/**
 * @typedef {object} Ping a ping sent on the current socket and not answered yet
 * @property {boolean} raw sent with send(): its pong goes to 'message' listeners
 * @property {ReturnType<typeof setTimeout> | null} timer the pong deadline of a keep-alive ping
 */

export class WsBridgeClient extends EventTarget {
  /** @type {string} */ #url;
  /** @type {TokenOption} */ #token;
  /** @type {string | undefined} */ #clientId;
  /** @type {number} */ #keepAliveMs;
  /** @type {number} */ #connectTimeoutMs;
  /** @type {number} */ #pongTimeoutMs;
  /** @type {string | null} */ #statusUrl;
  /** @type {number} */ #statusTimeoutMs;
  /** The id put on the current handshake (with `statusUrl`). */
  /** @type {string | null} */ #attemptId = null;
  /** No status questions before this time (ms): the HTTP API did not answer the last one. */
  #statusPausedUntil = 0;
  /** @type {any} */ #WebSocket;
  /** @type {Backoff} */ #backoff;
  /** @type {HistorySequencer} */ #sequencer;
  /** @type {RequestLane} */ #lane;
  /** @type {PresenceTracker} */ #presence = new PresenceTracker();

  /** @type {WsBridgeState} */ #state = 'connecting';
  /** @type {string | null} */ #connectionId = null;
  /** @type {string[]} */ #channels;

  /** @type {any} the current socket */ #socket = null;
  /** @type {boolean} */ #socketOpened = false;
  /** @type {number} */ #openedAt = 0;
  /** @type {boolean} */ #everOpened = false;
  /** Bumped for every handshake; async steps of an older one stop when they see it changed. */
  #generation = 0;
  /** @type {ReturnType<typeof setTimeout> | null} */ #retryTimer = null;
  /** @type {ReturnType<typeof setTimeout> | null} */ #connectTimer = null;
  /** @type {ReturnType<typeof setInterval> | null} */ #keepAliveTimer = null;
  /** Pings sent on this socket and not answered yet; `raw` ones were sent with send(). */
  /** @type {Ping[]} */ #pings = [];

  /** @type {(() => void) | null} */ #removeOnlineListener = null;

  /** @param {WsBridgeOptions} options */
  constructor(options) {
    super();
    if (!isObject(options)) throw new TypeError('WsBridgeClient: options are required');
    const { url } = options;
    let parsed;
    try {
      parsed = new URL(String(url));
    } catch {
      throw new TypeError(`WsBridgeClient: url ${JSON.stringify(url)} is not a valid URL`);
    }
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
      throw new TypeError(`WsBridgeClient: url must start with ws:// or wss://, got ${parsed.protocol}//`);
    }
    this.#url = parsed.href;
    this.#channels = options.channels === undefined ? [] : channelList(options.channels, 'WsBridgeClient');
    this.#token = options.token;
    this.#clientId = options.clientId;
    this.#keepAliveMs = nonNegative(options.keepAliveMs, 240_000, 'keepAliveMs');
    this.#backoff = new Backoff(options.backoff ?? {});
    const maxQueue = nonNegative(options.maxQueue, 100, 'maxQueue');
    const requestTimeoutMs = nonNegative(options.requestTimeoutMs, 35_000, 'requestTimeoutMs');
    this.#connectTimeoutMs = nonNegative(options.connectTimeoutMs, 30_000, 'connectTimeoutMs');
    this.#pongTimeoutMs = nonNegative(options.pongTimeoutMs, 30_000, 'pongTimeoutMs');
    this.#statusUrl = httpBase(options.statusUrl, 'WsBridgeClient: statusUrl');
    this.#statusTimeoutMs = nonNegative(options.statusTimeoutMs, 5_000, 'statusTimeoutMs');
    const gapTimeoutMs = nonNegative(options.gapTimeoutMs, 1_000, 'gapTimeoutMs');
    this.#sequencer = new HistorySequencer(positionMap(options.positions), gapTimeoutMs, {
      message: (message, meta) => this.#emit('message', message, meta),
      reset: (reset) => this.#emit('reset', reset),
      stopped: () => this.#isClosed(),
      fetch: (channel) =>
        this.#state === 'open'
          ? this.#lane.request({ action: 'subscribe', channels: [channel] }, 'subscribe', false, true)
          : null,
    });
    this.#lane = new RequestLane(maxQueue, requestTimeoutMs, {
      socket: () => (this.#socketOpened ? this.#socket : null),
      open: () => this.#state === 'open',
      writeSubscribe: (channels) => this.#sequencer.writeSubscribe(channels),
      endSubscribe: (sent, data) => this.#sequencer.endSubscribe(sent, data),
      pingSent: () => this.#pings.push({ raw: true, timer: null }),
      answered: (_entry, message, data) => {
        const held = heldChannels(message);
        if (held !== null) {
          this.#channels = held;
          if (message.type === 'unsubscribed') {
            this.#sequencer.forgetLeft(held);
            for (const channel of this.#presence.keepOnly(held)) this.#emitPresence(channel);
          }
        }
        if (message.type === 'subscribed') {
          // The re-subscribe of a new connection: what the fresh lists show was missed meanwhile.
          const reconnected = this.#state !== 'open' && this.#everOpened;
          const { changed, missed } = this.#presence.subscribed(isObject(data) ? data : null, reconnected);
          for (const frame of missed) this.#emit('message', frame);
          for (const channel of changed) this.#emitPresence(channel);
        }
        if (message.type === 'published' && isObject(data)) this.#sequencer.published(data);
      },
      rawReply: (message) => this.#emit('message', message),
      setUpTimedOut: (entry) => this.#abandonSocket(4000, `no reply to ${entry.action}`),
    });
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.#WebSocket !== 'function') {
      throw new TypeError(
        'WsBridgeClient: no WebSocket implementation; in Node pass one: new WsBridgeClient({ url, WebSocket }) with `import WebSocket from "ws"`',
      );
    }

    // A browser that comes back online retries at once instead of waiting out its backoff.
    const target = /** @type {any} */ (globalThis);
    if (typeof target.addEventListener === 'function' && typeof target.removeEventListener === 'function') {
      const onOnline = () => {
        if (this.#retryTimer !== null) {
          clearTimeout(this.#retryTimer);
          this.#retryTimer = null;
          void this.#connect();
        }
      };
      target.addEventListener('online', onOnline);
      this.#removeOnlineListener = () => target.removeEventListener('online', onOnline);
    }

    // Start after the caller had the chance to add listeners.
    queueMicrotask(() => {
      if (!this.#isClosed()) void this.#connect();
    });
  }

  /** @returns {WsBridgeState} */
  get state() {
    return this.#state;
  }

  /**
   * From `hello`, refreshed on every (re)connect before `open`; null while not open.
   * @returns {string | null}
   */
  get connectionId() {
    return this.#connectionId;
  }

  /**
   * The channels held: the server's list after each subscribe/unsubscribe (a copy).
   * @returns {string[]}
   */
  get channels() {
    return [...this.#channels];
  }

  /**
   * Where each channel with history stands: `{ [channel]: { seq, epoch } }`, `seq` being the last
   * message delivered (a copy). Save it (e.g. in sessionStorage) and pass it back as the
   * `positions` option to resume after a page reload.
   * @returns {Record<string, Position>}
   */
  get positions() {
    return this.#sequencer.positions();
  }

  /**
   * Listen to an event; the listener gets the event's detail (and, for 'message', the message's
   * `{ channel, seq, epoch, replayed }` on a channel with history, else null). Returns a function
   * that removes it.
   * @template {WsBridgeEventType} K
   * @param {K} type
   * @param {(detail: WsBridgeEventMap[K], meta: K extends 'message' ? MessageMeta | null : null) => void} listener
   * @returns {() => void}
   */
  on(type, listener) {
    /** @param {Event} event */
    const wrapped = (event) =>
      listener(/** @type {CustomEvent} */ (event).detail, /** @type {any} */ (event).meta ?? null);
    super.addEventListener(type, wrapped);
    return () => super.removeEventListener(type, wrapped);
  }

  /**
   * Listen to the messages whose `type` equals `type`. Returns a function that removes the listener.
   * @template {{ type?: string }} [T={ type: string, [key: string]: unknown }]
   * @param {string} type
   * @param {(message: T, meta: MessageMeta | null) => void} listener
   * @returns {() => void}
   */
  onMessage(type, listener) {
    return this.on('message', (message, meta) => {
      if (isObject(message) && message.type === type)
        listener(/** @type {T} */ (/** @type {unknown} */ (message)), meta);
    });
  }

  /**
   * A 'message' event of a channel with history also carries `event.meta` (a MessageMeta); the
   * client's own events are typed by their name.
   * @override
   * @template {string} K
   * @param {K} type
   * @param {(K extends WsBridgeEventType ? WsBridgeEventListener<K> : EventListenerOrEventListenerObject) | null} listener
   * @param {boolean | AddEventListenerOptions} [options]
   * @returns {void}
   */
  addEventListener(type, listener, options) {
    super.addEventListener(type, /** @type {EventListenerOrEventListenerObject | null} */ (listener), options);
  }

  /**
   * @override
   * @template {string} K
   * @param {K} type
   * @param {(K extends WsBridgeEventType ? WsBridgeEventListener<K> : EventListenerOrEventListenerObject) | null} listener
   * @param {boolean | EventListenerOptions} [options]
   * @returns {void}
   */
  removeEventListener(type, listener, options) {
    super.removeEventListener(type, /** @type {EventListenerOrEventListenerObject | null} */ (listener), options);
  }

  /**
   * Join channels. Resolves with the server's list of all the connection's channels; rejects with
   * the error frame's text.
   * @param {string | string[]} channels
   * @returns {Promise<string[]>}
   */
  subscribe(channels) {
    const list = channelList(channels, 'subscribe');
    return this.#request({ action: 'subscribe', channels: list }, 'subscribe').then((data) => data.channels);
  }

  /**
   * Leave channels. Resolves with the server's list of the channels still held.
   * @param {string | string[]} channels
   * @returns {Promise<string[]>}
   */
  unsubscribe(channels) {
    const list = channelList(channels, 'unsubscribe');
    return this.#request({ action: 'unsubscribe', channels: list }, 'unsubscribe').then((data) => data.channels);
  }

  /**
   * Publish to a channel the connection is in (needs CLIENT_PUBLISH on the server).
   * Resolves with the `published` data: `{ channel, connectionCount, sent }`, plus `seq` and
   * `epoch` on a channel with history (that message then counts as delivered to this client).
   * With `{ ephemeral: true }` (typing indicators) the message is never numbered or stored; the
   * others receive `{ type: 'message', channel, data, ephemeral: true }`.
   * @param {string} channel
   * @param {unknown} data
   * @param {PublishOptions} [options]
   * @returns {Promise<PublishedData>}
   */
  publish(channel, data, options = {}) {
    if (typeof channel !== 'string' || channel === '') {
      return Promise.reject(new TypeError('publish: channel must be a non-empty string'));
    }
    const frame =
      options.ephemeral === true
        ? { action: 'publish', channel, data, ephemeral: true }
        : { action: 'publish', channel, data };
    return this.#request(frame, 'publish');
  }

  /**
   * The members of a presence channel held (the gateway's PRESENCE_CHANNELS), in user order: the
   * list of the last subscribe, kept up to date by `presence.join` / `presence.leave` (a copy).
   * The 'presence' event tells when it changes.
   * @param {string} channel
   * @returns {Member[]}
   */
  members(channel) {
    return this.#presence.members(channel);
  }

  /**
   * Ask the gateway for every member of a presence channel the connection is in (page by page),
   * and keep that list as `members(channel)`.
   * @param {string} channel
   * @returns {Promise<Member[]>}
   */
  async presence(channel) {
    if (typeof channel !== 'string' || channel === '') {
      throw new TypeError('presence: channel must be a non-empty string');
    }
    /** @type {Member[]} */
    const members = [];
    /** @type {string | undefined} */
    let after;
    do {
      /** @type {MemberPage} */
      const page = await this.#request(
        after === undefined ? { action: 'presence', channel } : { action: 'presence', channel, after },
        'presence',
      );
      members.push(...(Array.isArray(page?.members) ? page.members : []));
      after = typeof page?.next === 'string' ? page.next : undefined;
    } while (after !== undefined);
    this.#presence.replace(channel, members);
    this.#emitPresence(channel);
    return this.members(channel);
  }

  /**
   * Send a raw frame (an object, sent as JSON, or a string). Queued while not open;
   * throws a WsBridgeError when the queue is full or the client is closed.
   * @param {unknown} frame
   * @returns {void}
   */
  send(frame) {
    const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
    if (typeof text !== 'string') throw new TypeError('send: the frame must be a string or a JSON-serialisable value');
    if (this.#isClosed()) throw new WsBridgeError('send: the client is closed', 'CLOSED');
    const action = actionOf(frame);
    const laneAction = action !== null && LANE_ACTIONS.has(action) ? /** @type {LaneAction} */ (action) : null;
    this.#lane.raw(text, laneAction, action === 'ping');
  }

  /**
   * Close for good: no reconnect afterwards. Pending requests are rejected.
   * @param {number} [code] close code sent to the server (default 1000)
   * @param {string} [reason]
   * @returns {void}
   */
  close(code = 1000, reason = '') {
    if (this.#isClosed()) return;
    this.#shutdown(new WsBridgeError('the client was closed', 'CLOSED'), code, reason);
    this.#emit('closed', { code, reason, byClient: true, error: null });
  }

  // ---------------------------------------------------------------- internals

  /**
   * @param {string} type
   * @param {unknown} detail
   * @param {MessageMeta | null} [meta] a message's metadata, as the event's `meta`
   */
  #emit(type, detail, meta = null) {
    const event = new CustomEvent(type, { detail });
    if (meta !== null) Object.defineProperty(event, 'meta', { value: meta });
    this.dispatchEvent(event);
  }

  /** @param {string} channel */
  #emitPresence(channel) {
    this.#emit('presence', { channel, members: this.#presence.members(channel) });
  }

  /** @param {WsBridgeState} state */
  #setState(state) {
    this.#state = state;
  }

  /** (A method, so that type narrowing does not survive the awaits in between.) */
  #isClosed() {
    return this.#state === 'closed';
  }

  /**
   * @param {Record<string, unknown>} message
   * @param {LaneAction} action
   * @param {boolean} [internal] a set-up request of the client itself
   * @returns {Promise<any>}
   */
  #request(message, action, internal = false) {
    if (this.#isClosed()) {
      return Promise.reject(new WsBridgeError(`${action}: the client is closed`, 'CLOSED'));
    }
    return this.#lane.request(message, action, internal);
  }

  /** @param {unknown} data */
  #onFrame(data) {
    const message = parseFrame(data);
    if (isObject(message)) {
      if (message.type === 'pong' && this.#pings.length > 0) {
        const ping = /** @type {Ping} */ (this.#pings.shift());
        if (ping.timer !== null) clearTimeout(ping.timer);
        if (ping.raw) this.#emit('message', message);
        return;
      }
      if (this.#lane.reply(message)) return;
      if (this.#sequencer.take(message)) return;
      const changed = this.#presence.observe(message);
      if (changed !== null) {
        this.#emit('message', message);
        this.#emitPresence(changed);
        return;
      }
    }
    this.#emit('message', message);
  }

  /** Start one handshake. */
  async #connect() {
    if (this.#isClosed()) return;
    this.#retryTimer = null;
    const generation = ++this.#generation;
    const backoff = this.#backoff;
    const reason = backoff.refusals > 0 ? 'refused' : this.#everOpened || backoff.attempt > 0 ? 'reconnect' : 'connect';
    this.#emit('connecting', { attempt: backoff.attempt, reason });

    let token = null;
    if (typeof this.#token === 'function') {
      try {
        token = await this.#token({ attempt: backoff.attempt, reason });
      } catch (cause) {
        if (generation !== this.#generation || this.#isClosed()) return;
        const error = new WsBridgeError(`the token provider failed: ${String(cause)}`, 'TOKEN', { cause });
        this.#emit('error', { kind: 'token', message: error.message, error });
        this.#scheduleRetry({ code: null, reason: 'token provider failed', status: null });
        return;
      }
      if (generation !== this.#generation || this.#isClosed()) return;
      if (reason === 'refused' && (token == null || token === '')) {
        // The app's clear signal: after a refusal, no token means no user (logged out).
        this.#fail(
          new WsBridgeError(
            'the gateway refused the token and the token provider has no other; stopping',
            'HANDSHAKE_REFUSED',
            { status: backoff.lastRefusal },
          ),
        );
        return;
      }
    } else if (this.#token != null) {
      token = this.#token;
    }

    // Only a browser asking the HTTP API needs to name its handshake.
    const attemptId = this.#statusUrl !== null ? newAttemptId() : null;
    this.#attemptId = attemptId;
    const url = handshakeUrl(this.#url, { token, clientId: this.#clientId, attemptId });

    let socket;
    try {
      socket = new this.#WebSocket(url);
    } catch (cause) {
      const error = new WsBridgeError(`cannot open a WebSocket to ${this.#url}: ${String(cause)}`, 'INVALID_URL', {
        cause,
      });
      this.#fail(error);
      return;
    }
    this.#socket = socket;
    this.#socketOpened = false;

    this.#connectTimer = setTimeout(() => {
      this.#connectTimer = null;
      if (this.#socket !== socket || this.#socketOpened) return;
      // No answer at all (a dead network path): give up on this handshake and back off.
      this.#abandonSocket(null, `the handshake timed out after ${this.#connectTimeoutMs} ms`);
    }, this.#connectTimeoutMs);

    watchSocket(socket, {
      open: () => {
        if (this.#socket !== socket) return;
        this.#clearConnectTimer();
        this.#socketOpened = true;
        this.#openedAt = Date.now();
        this.#backoff.opened();
        void this.#setUp(socket);
      },
      frame: (data) => {
        if (this.#socket !== socket) return;
        this.#onFrame(data);
      },
      close: (code, reason, errorMessage) => {
        if (this.#socket !== socket) return;
        const wasOpen = this.#socketOpened;
        this.#detach();
        void this.#onSocketLost({ wasOpen, code, reason, errorMessage });
      },
    });
  }

  /**
   * After the handshake: learn the connection id, re-subscribe, then report 'open'.
   * @param {any} socket
   */
  async #setUp(socket) {
    try {
      const welcome = await this.#request({ action: 'hello' }, 'hello', true);
      if (this.#socket !== socket) return;
      this.#connectionId = isObject(welcome) && typeof welcome.connectionId === 'string' ? welcome.connectionId : null;
      if (this.#channels.length > 0) await this.#resubscribe(socket);
      if (this.#socket !== socket) return;
    } catch (error) {
      // The socket was lost or timed out; its close handling reconnects.
      return;
    }
    this.#setState('open');
    this.#everOpened = true;
    this.#startKeepAlive(socket);
    this.#emit('open', { connectionId: this.#connectionId, channels: this.channels });
    if (this.#socket === socket) this.#sequencer.resume();
    this.#lane.pump();
  }

  /**
   * Subscribe the held channels on a new connection; if the server refuses the whole list
   * (a channel no longer granted, say), subscribe them one by one and report each refusal.
   * @param {any} socket
   */
  async #resubscribe(socket) {
    const wanted = [...this.#channels];
    try {
      await this.#request({ action: 'subscribe', channels: wanted }, 'subscribe', true);
      return;
    } catch (error) {
      if (!(error instanceof WsBridgeError) || error.code !== 'SERVER_ERROR' || this.#socket !== socket) throw error;
    }
    /** @type {string[]} */
    const held = [];
    for (const channel of wanted) {
      try {
        const data = await this.#request({ action: 'subscribe', channels: [channel] }, 'subscribe', true);
        held.splice(0, held.length, ...data.channels);
      } catch (error) {
        if (!(error instanceof WsBridgeError) || error.code !== 'SERVER_ERROR' || this.#socket !== socket) throw error;
        this.#emit('error', {
          kind: 'subscribe',
          message: `re-subscribing to ${JSON.stringify(channel)} was refused: ${error.message}`,
          channel,
          error,
        });
      }
    }
    this.#channels = held;
  }

  /** @param {any} socket */
  #startKeepAlive(socket) {
    if (this.#keepAliveMs <= 0) return;
    this.#keepAliveTimer = setInterval(() => {
      if (this.#socket !== socket || this.#state !== 'open') return;
      /** @type {Ping} */
      const ping = { raw: false, timer: null };
      ping.timer = setTimeout(() => {
        ping.timer = null;
        if (this.#socket !== socket || !this.#pings.includes(ping)) return;
        // No pong: the connection is dead without being closed (a half-open TCP connection
        // after a network change, say). Drop it and reconnect.
        this.#abandonSocket(4000, `no pong within ${this.#pongTimeoutMs} ms`);
      }, this.#pongTimeoutMs);
      this.#pings.push(ping);
      try {
        socket.send(PING_FRAME);
      } catch {
        // The close event follows.
      }
    }, this.#keepAliveMs);
  }

  #clearConnectTimer() {
    if (this.#connectTimer !== null) clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
  }

  /** Forget the current socket (its late events are ignored) and stop its timers. */
  #detach() {
    this.#socket = null;
    this.#clearConnectTimer();
    if (this.#keepAliveTimer !== null) clearInterval(this.#keepAliveTimer);
    this.#keepAliveTimer = null;
    for (const ping of this.#pings) if (ping.timer !== null) clearTimeout(ping.timer);
    this.#pings = [];
  }

  /**
   * Give up on the current socket without waiting for its close handshake.
   * @param {number | null} code sent in the close frame (4000 if null) and reported
   * @param {string} reason
   */
  #abandonSocket(code, reason) {
    const socket = this.#socket;
    if (socket === null) return;
    const wasOpen = this.#socketOpened;
    this.#detach();
    // No close handshake over a dead path.
    dropSocket(socket, code ?? 4000, reason);
    // A handshake that timed out is no refusal: `reason` stands in for the error message.
    void this.#onSocketLost({ wasOpen, code, reason, errorMessage: wasOpen ? null : reason });
  }

  /**
   * @param {{ wasOpen: boolean, code: number | null, reason: string, errorMessage: string | null }} lost
   */
  async #onSocketLost({ wasOpen, code, reason, errorMessage }) {
    this.#connectionId = null;
    this.#socketOpened = false;
    this.#lane.connectionLost();
    this.#sequencer.pause();
    if (this.#isClosed()) return;

    const backoff = this.#backoff;
    if (wasOpen) {
      backoff.lost(Date.now() - this.#openedAt);
      this.#scheduleRetry({ code, reason, status: null });
      return;
    }

    // The socket closed before it ever opened. Why?
    let status = statusFromError(errorMessage);
    // Whether the WebSocket implementation showed the status (`ws` does; a browser never does).
    const shown = status !== null;
    let why;
    if (shown) {
      why = `the handshake was answered with HTTP ${status}`;
    } else if (errorMessage !== null) {
      // `ws` names network failures (ECONNREFUSED, ENOTFOUND, …), or the handshake timed out.
      why = errorMessage;
    } else {
      // A browser: ask the HTTP API what `$connect` recorded for this attempt, if it can.
      const generation = this.#generation;
      status = await this.#handshakeStatus(this.#attemptId);
      if (generation !== this.#generation || this.#isClosed()) return;
      why =
        status !== null
          ? `the gateway refused the handshake with HTTP ${status}`
          : 'the handshake failed (a browser cannot see why; taken as transient)';
    }
    if (status !== null && UNAUTHORIZED_STATUSES.has(status)) {
      backoff.lastRefusal = status;
      this.#emit('unauthorized', { status, refusals: backoff.refusals + 1, reason: why });
      if (this.#isClosed()) return; // a listener closed the client
    }
    if (status !== null && !shown && UNAUTHORIZED_STATUSES.has(status)) {
      this.#retryRefused({ code, reason: why, status });
      return;
    }
    if (status !== null && REFUSED_STATUSES.has(status)) {
      backoff.refusals += 1;
      backoff.lastRefusal = status;
      if (backoff.refusals >= 2) {
        const error = new WsBridgeError(
          `the gateway refused the handshake with HTTP ${status} twice, the second time with a fresh token; giving up`,
          'HANDSHAKE_REFUSED',
          { status },
        );
        this.#fail(error);
        return;
      }
      // One more try at once, with a fresh token.
      this.#setState('reconnecting');
      this.#emit('reconnecting', { attempt: backoff.attempt, delayMs: 0, code, reason: why, status, refused: true });
      if (this.#state !== 'reconnecting') return; // a listener closed the client
      this.#retryTimer = setTimeout(() => void this.#connect(), 0);
      return;
    }
    // 429, 5xx, a network failure, a timeout, or not known: transient, back off and retry.
    this.#scheduleRetry({ code, reason: why, status });
  }

  /**
   * A browser learnt that its token was refused (401/403): retried with a fresh token after the
   * backoff's refused delay, until one is accepted, the provider has none (no user) or the app
   * closes.
   * @param {{ code: number | null, reason: string, status: number }} why
   */
  #retryRefused({ code, reason, status }) {
    const delayMs = this.#backoff.refused();
    this.#setState('reconnecting');
    this.#emit('reconnecting', { attempt: this.#backoff.attempt, delayMs, code, reason, status, refused: true });
    if (this.#state !== 'reconnecting') return; // a listener closed the client
    this.#retryTimer = setTimeout(() => void this.#connect(), delayMs);
  }

  /**
   * What `$connect` recorded for the handshake `attemptId` (see askHandshakeStatus); when the
   * HTTP API does not answer at all (the gateway is down), the next questions wait
   * `backoff.maxMs`, so that a browser logs that failure rarely.
   * @param {string | null} attemptId
   * @returns {Promise<number | null>}
   */
  async #handshakeStatus(attemptId) {
    if (this.#statusUrl === null || attemptId === null || typeof globalThis.fetch !== 'function') return null;
    const nav = /** @type {any} */ (globalThis).navigator;
    if (nav?.onLine === false || Date.now() < this.#statusPausedUntil) return null;
    const status = await askHandshakeStatus(this.#statusUrl, attemptId, this.#statusTimeoutMs);
    if (status !== 'unreachable') return status;
    this.#statusPausedUntil = Date.now() + this.#backoff.maxMs;
    return null;
  }

  /**
   * Wait out the next backoff delay, then try again.
   * @param {{ code: number | null, reason: string, status: number | null }} why
   */
  #scheduleRetry({ code, reason, status }) {
    if (this.#isClosed()) return;
    const { attempt, delayMs } = this.#backoff.next();
    this.#setState('reconnecting');
    this.#emit('reconnecting', { attempt, delayMs, code, reason, status, refused: false });
    if (this.#state !== 'reconnecting') return; // a listener closed the client
    this.#retryTimer = setTimeout(() => void this.#connect(), delayMs);
  }

  /**
   * Stop for good because of `error`: 'error', then 'closed'.
   * @param {WsBridgeError} error
   */
  #fail(error) {
    this.#shutdown(error, 1000, '');
    this.#emit('error', { kind: 'fatal', message: error.message, status: error.status, error });
    this.#emit('closed', { code: null, reason: error.message, byClient: false, error });
  }

  /**
   * @param {WsBridgeError} error what pending requests are rejected with
   * @param {number} code
   * @param {string} reason
   */
  #shutdown(error, code, reason) {
    this.#setState('closed');
    this.#generation += 1;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#removeOnlineListener?.();
    this.#removeOnlineListener = null;
    const socket = this.#socket;
    this.#detach();
    this.#sequencer.pause();
    this.#connectionId = null;
    if (socket !== null) closeSocket(socket, code, reason);
    this.#lane.rejectAll(error);
  }
}
