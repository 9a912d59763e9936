// @ws-bridge/client: the browser (and Node) client of ws-bridge.
//
// One ES module, no dependencies, no build step. It keeps one WebSocket to a
// ws-bridge gateway alive: reconnects after every close it did not ask for
// (capped exponential backoff, full jitter), asks the token provider for a
// fresh token before every handshake, learns its connection id with `hello`,
// re-subscribes every channel it holds before reporting 'open', sends
// `{"action":"ping"}` as keep-alive, and matches the server's replies to
// subscribe/unsubscribe/publish requests. On channels with history (the gateway's
// HISTORY_CHANNELS) it remembers the last sequence number delivered and resumes from it on
// every re-subscribe, so the application sees each message once, in order, or a 'reset'.
//
// SPDX-License-Identifier: MIT OR Apache-2.0

/** @typedef {'connecting' | 'open' | 'reconnecting' | 'closed'} WsBridgeState */
/** @typedef {'CLOSED' | 'QUEUE_FULL' | 'SERVER_ERROR' | 'TIMEOUT' | 'CONNECTION_LOST' | 'HANDSHAKE_REFUSED' | 'TOKEN' | 'INVALID_URL'} WsBridgeErrorCode */

/**
 * @typedef {object} TokenContext
 * @property {number} attempt the backoff step: retries since the last connection that stayed up (0 at first)
 * @property {'connect' | 'reconnect' | 'refused'} reason why a token is wanted: the first
 *   connection, a reconnect, or a retry after a refused handshake (do not return a cached token
 *   then; return null when there is no user any more: the client stops)
 */

/** @typedef {string | null | undefined | ((context: TokenContext) => string | null | undefined | Promise<string | null | undefined>)} TokenOption */

/**
 * @typedef {object} BackoffOptions
 * @property {number} [initialMs] ceiling of the first delay (default 500)
 * @property {number} [maxMs] cap of every delay (default 30000)
 * @property {number} [resetAfterMs] a connection open at least this long starts the schedule
 *   again from initialMs when it closes (default 5000)
 * @property {number} [refusedMs] after a second refusal (401/403) in a row, the first slow delay;
 *   it doubles with each further refusal (default 20000)
 * @property {number} [refusedMaxMs] cap of the delays after refusals (default 300000)
 */

/**
 * @typedef {object} WsBridgeOptions
 * @property {string} url the gateway's WebSocket URL, e.g. `ws://127.0.0.1:3001/dev`
 * @property {string[]} [channels] channels to hold from the start
 * @property {TokenOption} [token] a token, or a provider called before every handshake
 * @property {string} [clientId] sent as `?clientId=`
 * @property {number} [keepAliveMs] ping cadence while open; 0 turns keep-alive off (default 240000)
 * @property {BackoffOptions} [backoff]
 * @property {number} [maxQueue] requests and frames waiting to be sent, at most (default 100)
 * @property {number} [requestTimeoutMs] how long a request waits for its reply (default 35000)
 * @property {number} [connectTimeoutMs] how long a handshake may take (default 30000)
 * @property {number} [pongTimeoutMs] how long a keep-alive ping may wait for its pong (default 30000)
 * @property {string} [statusUrl] the gateway's HTTP API base (e.g. `http://127.0.0.1:3001/dev`, or
 *   the stack's HttpApiUrl), where a browser asks why a handshake failed: `GET
 *   {statusUrl}/handshakes/{attempt id}`. Without it a browser treats every failed handshake as
 *   transient (it cannot see the status)
 * @property {number} [statusTimeoutMs] how long that question waits for its answer (default 5000)
 * @property {Record<string, Position>} [positions] where to resume channels with history from
 *   (e.g. `client.positions` saved before a page reload)
 * @property {number} [gapTimeoutMs] how long a message that arrived ahead of a missing one waits
 *   for it before the client fetches the gap from history (default 1000)
 * @property {any} [WebSocket] the WebSocket class (default `globalThis.WebSocket`; in Node 20 pass `ws`)
 */

/**
 * @typedef {object} Ping a ping sent on the current socket and not answered yet
 * @property {boolean} raw sent with send(): its pong goes to 'message' listeners
 * @property {ReturnType<typeof setTimeout> | null} timer the pong deadline of a keep-alive ping
 */

/**
 * @typedef {object} Position where a channel with history stands
 * @property {number} seq the last sequence number delivered (0: none yet)
 * @property {string} epoch the numbering it belongs to ('' before the channel's first message)
 */

/**
 * @typedef {object} MessageMeta what the client knows of a message on a channel with history
 * @property {string} channel
 * @property {number} seq
 * @property {string} epoch
 * @property {boolean} replayed true when it came from the channel's history (it was missed live)
 */

/**
 * @typedef {object} Held a message waiting for the ones before it
 * @property {unknown} data
 * @property {boolean} replayed from a `history` frame
 * @property {number} sync the channel's sync count when it arrived
 * @property {boolean} seen the client's own publish: counts as delivered, is not emitted
 * @property {unknown} frame the live frame as received (emitted as is if the channel turns out
 *   to have no history)
 */

/**
 * @typedef {object} Track the client's state of one channel with history (or, `provisional`,
 *   of a channel being subscribed that may have history)
 * @property {number} seq the last sequence number delivered
 * @property {string} epoch
 * @property {boolean} provisional not confirmed by the server's positions yet
 * @property {boolean} syncing a subscribe for it is in flight: messages are held, not delivered
 * @property {number} sync how many subscribes for it were sent
 * @property {Map<number, Held>} held messages ahead of seq + 1, by seq
 * @property {ReturnType<typeof setTimeout> | null} gapTimer
 * @property {boolean} fetchQueued a subscribe to fill a gap (or learn the epoch) is queued
 */

/**
 * @typedef {object} PendingRequest
 * @property {string} frame the JSON text to send
 * @property {'hello' | 'subscribe' | 'unsubscribe' | 'publish' | null} action what reply it
 *   waits for; null for a frame that waits for nothing
 * @property {boolean} internal sent by the client itself while setting a connection up
 * @property {boolean} raw sent with send(): its reply also goes to 'message' listeners
 * @property {boolean} ping a raw `{"action":"ping"}`, answered by a pong
 * @property {string[] | null} subscribe the channels of a subscribe made by the client (its frame,
 *   with `since`, is written when it is sent)
 * @property {Set<string> | null} since the channels the sent subscribe named in `since`
 * @property {boolean} background a gap fetch: dropped when the connection is lost (the
 *   re-subscribe fetches everything anyway)
 * @property {(value: any) => void} resolve
 * @property {(error: Error) => void} reject
 * @property {ReturnType<typeof setTimeout> | null} timer
 */

const REPLY_TYPE = /** @type {const} */ ({
  hello: 'welcome',
  subscribe: 'subscribed',
  unsubscribe: 'unsubscribed',
  publish: 'published',
});

const LANE_ACTIONS = new Set(['hello', 'subscribe', 'unsubscribe', 'publish']);

const OPEN = 1;

/**
 * @param {unknown} value
 * @returns {value is number}
 */
function isSeq(value) {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * @param {unknown} value
 * @returns {value is Position}
 */
function isPosition(value) {
  return isObject(value) && isSeq(value.seq) && typeof value.epoch === 'string';
}

/**
 * The `positions` option, checked and copied.
 * @param {unknown} positions
 * @returns {Map<string, Position>}
 */
function positionMap(positions) {
  /** @type {Map<string, Position>} */
  const map = new Map();
  if (positions === undefined || positions === null) return map;
  if (!isObject(positions))
    throw new TypeError('WsBridgeClient: positions must be an object of channel → {seq, epoch}');
  for (const [channel, position] of Object.entries(positions)) {
    if (!isPosition(position)) {
      throw new TypeError(
        `WsBridgeClient: positions[${JSON.stringify(channel)}] must be {seq: an integer >= 0, epoch: a string}`,
      );
    }
    map.set(channel, { seq: position.seq, epoch: position.epoch });
  }
  return map;
}

/**
 * @param {number} seq
 * @param {string} epoch
 * @param {boolean} provisional
 * @returns {Track}
 */
function newTrack(seq, epoch, provisional) {
  return { seq, epoch, provisional, syncing: false, sync: 0, held: new Map(), gapTimer: null, fetchQueued: false };
}

/**
 * What a subscribe names in `since` for a channel: its position, or, before the client knows the
 * numbering (no epoch yet), `{seq: 0, epoch: ''}`, which the server matches with any epoch
 * (the replay from seq 1 is deduplicated).
 * @param {Track} track
 * @returns {Position}
 */
function sinceOf(track) {
  return track.epoch === '' ? { seq: 0, epoch: '' } : { seq: track.seq, epoch: track.epoch };
}

/**
 * Statuses after which a handshake is retried once with a fresh token, then given up, where the
 * WebSocket implementation shows the status (Node's `ws`).
 */
const REFUSED_STATUSES = new Set([400, 401, 403]);

/** Statuses that mean the token is not accepted (a browser learns them from the HTTP API). */
const UNAUTHORIZED_STATUSES = new Set([401, 403]);

/** The handshake's query parameter naming the attempt (see `statusUrl`). */
const ATTEMPT_PARAM = 'ws_bridge_attempt';

/** A random id for one handshake: base64url of 16 random bytes (22 characters). */
function newAttemptId() {
  const bytes = new Uint8Array(16);
  const crypto = /** @type {any} */ (globalThis).crypto;
  if (crypto && typeof crypto.getRandomValues === 'function') crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i += 1) bytes[i] = Math.floor(Math.random() * 256);
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** An error of this client; `code` says what kind. */
export class WsBridgeError extends Error {
  /**
   * @param {string} message
   * @param {WsBridgeErrorCode} code
   * @param {{ status?: number | null, frame?: unknown, cause?: unknown }} [extra]
   */
  constructor(message, code, extra = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'WsBridgeError';
    /** @type {WsBridgeErrorCode} */
    this.code = code;
    /** @type {number | null} */
    this.status = extra.status ?? null;
    /** @type {unknown} */
    this.frame = extra.frame;
  }
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, any>}
 */
function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * @param {unknown} channels
 * @param {string} what
 * @returns {string[]}
 */
function channelList(channels, what) {
  const list = typeof channels === 'string' ? [channels] : channels;
  if (!Array.isArray(list) || list.some((c) => typeof c !== 'string' || c === '')) {
    throw new TypeError(`${what}: channels must be a non-empty string or an array of them`);
  }
  return [...list];
}

/**
 * @param {number | undefined} value
 * @param {number} fallback
 * @param {string} name
 */
function nonNegative(value, fallback, name) {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) {
    throw new TypeError(`WsBridgeClient: ${name} must be a finite number >= 0`);
  }
  return value;
}

/**
 * The `statusUrl` option, checked, without a trailing slash; null when not given.
 * @param {unknown} value
 * @returns {string | null}
 */
function statusBase(value) {
  if (value === undefined || value === null || value === '') return null;
  let parsed;
  try {
    parsed = new URL(String(value));
  } catch {
    throw new TypeError(`WsBridgeClient: statusUrl ${JSON.stringify(value)} is not a valid URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TypeError(`WsBridgeClient: statusUrl must start with http:// or https://, got ${parsed.protocol}//`);
  }
  parsed.search = '';
  parsed.hash = '';
  return parsed.href.replace(/\/+$/, '');
}

/**
 * A frame that API Gateway itself sends in place of a reply
 * (`{"message":"Internal server error","connectionId":…,"requestId":…}`, `Forbidden`,
 * `Endpoint request timed out`).
 * @param {Record<string, any>} msg
 */
function isGatewayErrorFrame(msg) {
  return msg.type === undefined && typeof msg.message === 'string' && 'requestId' in msg;
}

/**
 * The HTTP status of a refused handshake, where the WebSocket implementation tells it
 * (the `ws` package: "Unexpected server response: 401"). Browsers never do.
 * @param {string | null} message
 */
function statusFromError(message) {
  const match = message && /Unexpected server response: (\d{3})/.exec(message);
  return match ? Number(match[1]) : null;
}

export class WsBridgeClient extends EventTarget {
  /** @type {string} */ #url;
  /** @type {TokenOption} */ #token;
  /** @type {string | undefined} */ #clientId;
  /** @type {number} */ #keepAliveMs;
  /** @type {number} */ #initialMs;
  /** @type {number} */ #maxMs;
  /** @type {number} */ #resetAfterMs;
  /** @type {number} */ #maxQueue;
  /** @type {number} */ #requestTimeoutMs;
  /** @type {number} */ #connectTimeoutMs;
  /** @type {number} */ #pongTimeoutMs;
  /** @type {string | null} */ #statusUrl;
  /** @type {number} */ #statusTimeoutMs;
  /** @type {number} */ #refusedMs;
  /** @type {number} */ #refusedMaxMs;
  /** The id put on the current handshake (with `statusUrl`). */
  /** @type {string | null} */ #attemptId = null;
  /** No status questions before this time (ms): the HTTP API did not answer the last one. */
  #statusPausedUntil = 0;
  /** @type {number} */ #gapTimeoutMs;
  /** @type {any} */ #WebSocket;
  /** Channels with history (and channels being subscribed that may have it), by name. */
  /** @type {Map<string, Track>} */ #tracks = new Map();

  /** @type {WsBridgeState} */ #state = 'connecting';
  /** @type {string | null} */ #connectionId = null;
  /** @type {string[]} */ #channels;

  /** @type {any} the current socket */ #socket = null;
  /** @type {boolean} */ #socketOpened = false;
  /** @type {number} */ #openedAt = 0;
  /** @type {boolean} */ #everOpened = false;
  /** Bumped for every handshake; async steps of an older one stop when they see it changed. */
  #generation = 0;
  /** Handshakes tried since the last one that opened. */
  #attempt = 0;
  /** Consecutive handshakes refused (400, 401, 403) since the last one that opened. */
  #refusals = 0;
  /** @type {number | null} the status of the last refusal */ #lastRefusal = null;
  /** @type {ReturnType<typeof setTimeout> | null} */ #retryTimer = null;
  /** @type {ReturnType<typeof setTimeout> | null} */ #connectTimer = null;
  /** @type {ReturnType<typeof setInterval> | null} */ #keepAliveTimer = null;
  /** Pings sent on this socket and not answered yet; `raw` ones were sent with send(). */
  /** @type {Ping[]} */ #pings = [];

  /** Requests and frames waiting to be sent, in call order. */
  /** @type {PendingRequest[]} */ #queue = [];
  /** The one request sent and waiting for its reply. */
  /** @type {PendingRequest | null} */ #inflight = null;

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
    const backoff = options.backoff ?? {};
    this.#initialMs = nonNegative(backoff.initialMs, 500, 'backoff.initialMs');
    this.#maxMs = Math.max(this.#initialMs, nonNegative(backoff.maxMs, 30_000, 'backoff.maxMs'));
    this.#resetAfterMs = nonNegative(backoff.resetAfterMs, 5_000, 'backoff.resetAfterMs');
    this.#maxQueue = nonNegative(options.maxQueue, 100, 'maxQueue');
    this.#requestTimeoutMs = nonNegative(options.requestTimeoutMs, 35_000, 'requestTimeoutMs');
    this.#connectTimeoutMs = nonNegative(options.connectTimeoutMs, 30_000, 'connectTimeoutMs');
    this.#pongTimeoutMs = nonNegative(options.pongTimeoutMs, 30_000, 'pongTimeoutMs');
    this.#refusedMs = nonNegative(backoff.refusedMs, 20_000, 'backoff.refusedMs');
    this.#refusedMaxMs = Math.max(this.#refusedMs, nonNegative(backoff.refusedMaxMs, 300_000, 'backoff.refusedMaxMs'));
    this.#statusUrl = statusBase(options.statusUrl);
    this.#statusTimeoutMs = nonNegative(options.statusTimeoutMs, 5_000, 'statusTimeoutMs');
    this.#gapTimeoutMs = nonNegative(options.gapTimeoutMs, 1_000, 'gapTimeoutMs');
    for (const [channel, { seq, epoch }] of positionMap(options.positions)) {
      this.#tracks.set(channel, newTrack(seq, epoch, false));
    }
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

  /** The id of the current connection (from `hello`); null while not open. */
  get connectionId() {
    return this.#connectionId;
  }

  /** The channels the client holds: the server's list after each subscribe/unsubscribe. */
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
    /** @type {Record<string, Position>} */
    const positions = {};
    for (const [channel, track] of this.#tracks) {
      if (!track.provisional) positions[channel] = { seq: track.seq, epoch: track.epoch };
    }
    return positions;
  }

  /**
   * Listen to an event; the listener gets the event's detail (and, for 'message', the message's
   * `{ channel, seq, epoch, replayed }` on a channel with history, else null). Returns a function
   * that removes it.
   * @param {string} type
   * @param {(detail: any, meta: MessageMeta | null) => void} listener
   * @returns {() => void}
   */
  on(type, listener) {
    /** @param {Event} event */
    const wrapped = (event) =>
      listener(/** @type {CustomEvent} */ (event).detail, /** @type {any} */ (event).meta ?? null);
    this.addEventListener(type, wrapped);
    return () => this.removeEventListener(type, wrapped);
  }

  /**
   * Listen to the messages whose `type` is `type`. Returns a function that removes the listener.
   * @param {string} type
   * @param {(message: any, meta: MessageMeta | null) => void} listener
   * @returns {() => void}
   */
  onMessage(type, listener) {
    return this.on('message', (message, meta) => {
      if (isObject(message) && message.type === type) listener(message, meta);
    });
  }

  /**
   * Join channels. Resolves with the server's list of all the connection's channels.
   * @param {string | string[]} channels
   * @returns {Promise<string[]>}
   */
  subscribe(channels) {
    const list = channelList(channels, 'subscribe');
    return this.#enqueue({ action: 'subscribe', channels: list }, 'subscribe', false).then((data) => data.channels);
  }

  /**
   * Leave channels. Resolves with the server's list of the channels still held.
   * @param {string | string[]} channels
   * @returns {Promise<string[]>}
   */
  unsubscribe(channels) {
    const list = channelList(channels, 'unsubscribe');
    return this.#enqueue({ action: 'unsubscribe', channels: list }, 'unsubscribe', false).then((data) => data.channels);
  }

  /**
   * Publish to a channel the connection is in (needs CLIENT_PUBLISH on the server).
   * Resolves with the `published` data: `{ channel, connectionCount, sent }`, plus `seq` and
   * `epoch` on a channel with history (that message then counts as delivered to this client).
   * @param {string} channel
   * @param {unknown} data
   */
  publish(channel, data) {
    if (typeof channel !== 'string' || channel === '') {
      return Promise.reject(new TypeError('publish: channel must be a non-empty string'));
    }
    return this.#enqueue({ action: 'publish', channel, data }, 'publish', false);
  }

  /**
   * Send a raw frame (an object, sent as JSON, or a string). Queued while not open;
   * throws a WsBridgeError when the queue is full or the client is closed.
   * @param {unknown} frame
   */
  send(frame) {
    const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
    if (typeof text !== 'string') throw new TypeError('send: the frame must be a string or a JSON-serialisable value');
    if (this.#isClosed()) throw new WsBridgeError('send: the client is closed', 'CLOSED');
    let parsed = frame;
    if (typeof frame === 'string') {
      try {
        parsed = JSON.parse(frame);
      } catch {
        parsed = null;
      }
    }
    const action = isObject(parsed) && typeof parsed.action === 'string' ? parsed.action : null;
    const laneAction = action !== null && LANE_ACTIONS.has(action) ? action : null;
    this.#checkQueueRoom('send');
    this.#queue.push({
      frame: text,
      action: /** @type {PendingRequest['action']} */ (laneAction),
      internal: false,
      raw: true,
      ping: action === 'ping',
      subscribe: null,
      since: null,
      background: false,
      resolve: () => {},
      reject: () => {},
      timer: null,
    });
    this.#pump();
  }

  /**
   * Close for good: no reconnect afterwards. Pending requests are rejected.
   * @param {number} [code] close code sent to the server (default 1000)
   * @param {string} [reason]
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

  /** @param {WsBridgeState} state */
  #setState(state) {
    this.#state = state;
  }

  /** (A method, so that type narrowing does not survive the awaits in between.) */
  #isClosed() {
    return this.#state === 'closed';
  }

  /** @param {string} what */
  #checkQueueRoom(what) {
    const waiting = this.#queue.filter((entry) => !entry.internal && !entry.background).length;
    if (waiting >= this.#maxQueue) {
      throw new WsBridgeError(
        `${what}: ${waiting} requests are already waiting to be sent (maxQueue ${this.#maxQueue}); not queued`,
        'QUEUE_FULL',
      );
    }
  }

  /**
   * @param {Record<string, unknown>} message
   * @param {'hello' | 'subscribe' | 'unsubscribe' | 'publish'} action
   * @param {boolean} internal
   * @param {boolean} [background] a gap fetch (see PendingRequest)
   * @returns {Promise<any>}
   */
  #enqueue(message, action, internal, background = false) {
    if (this.#isClosed()) {
      return Promise.reject(new WsBridgeError(`${action}: the client is closed`, 'CLOSED'));
    }
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
        since: null,
        background,
        resolve,
        reject,
        timer: null,
      };
      if (internal || background) {
        // Set-up requests go before everything the application queued.
        this.#queue.unshift(entry);
      } else {
        this.#checkQueueRoom(action);
        this.#queue.push(entry);
      }
      this.#pump();
    });
  }

  /** Send what can be sent: frames in call order, one request at a time. */
  #pump() {
    const socket = this.#socket;
    if (socket === null || !this.#socketOpened || socket.readyState !== OPEN) return;
    while (this.#queue.length > 0) {
      const entry = this.#queue[0];
      // Until 'open' only the client's own set-up requests go out.
      if (this.#state !== 'open' && !entry.internal) return;
      // A request waits for the one in flight; a frame that expects no reply does not.
      if (entry.action !== null && this.#inflight !== null) return;
      this.#queue.shift();
      if (entry.subscribe !== null) entry.frame = this.#subscribeFrame(entry);
      try {
        socket.send(entry.frame);
      } catch {
        if (entry.since !== null) this.#endSync(entry, null);
        this.#queue.unshift(entry);
        return;
      }
      if (entry.ping) {
        this.#pings.push({ raw: true, timer: null });
      } else if (entry.action !== null) {
        this.#inflight = entry;
        entry.timer = setTimeout(() => this.#requestTimedOut(entry), this.#requestTimeoutMs);
      }
    }
  }

  /** @param {PendingRequest} entry */
  #requestTimedOut(entry) {
    if (this.#inflight !== entry) return;
    this.#inflight = null;
    if (entry.since !== null) this.#endSync(entry, null);
    entry.reject(new WsBridgeError(`${entry.action}: no reply within ${this.#requestTimeoutMs} ms`, 'TIMEOUT'));
    if (entry.internal) {
      // A connection that cannot answer hello or subscribe is of no use: start again.
      this.#abandonSocket(4000, `no reply to ${entry.action}`);
    } else {
      this.#pump();
    }
  }

  /**
   * @param {PendingRequest} entry
   * @param {Record<string, any>} message
   */
  #settle(entry, message) {
    if (entry.timer !== null) clearTimeout(entry.timer);
    this.#inflight = null;
    const ok = message.type === REPLY_TYPE[/** @type {keyof typeof REPLY_TYPE} */ (entry.action)];
    if (entry.since !== null) this.#endSync(entry, ok && isObject(message.data) ? message.data : null);
    if (ok) {
      if (
        (message.type === 'subscribed' || message.type === 'unsubscribed') &&
        isObject(message.data) &&
        Array.isArray(message.data.channels)
      ) {
        this.#channels = message.data.channels.filter((/** @type {unknown} */ c) => typeof c === 'string');
        if (message.type === 'unsubscribed') this.#forgetLeft();
      }
      if (message.type === 'published' && isObject(message.data)) this.#published(message.data);
      entry.resolve(message.data);
    } else {
      const why =
        message.type === 'error'
          ? isObject(message.data) && typeof message.data.error === 'string'
            ? message.data.error
            : JSON.stringify(message.data)
          : String(message.message);
      entry.reject(new WsBridgeError(why, 'SERVER_ERROR', { frame: message }));
    }
    if (entry.raw) this.#emit('message', message);
    this.#pump();
  }

  // ------------------------------------------------- channels with history: resume and order

  /**
   * The frame of a subscribe, written as it is sent: `since` names the channels whose position
   * the client knows. Its channels hold their messages until the reply (see #endSync).
   * @param {PendingRequest} entry
   */
  #subscribeFrame(entry) {
    const channels = /** @type {string[]} */ (entry.subscribe);
    /** @type {Record<string, Position>} */
    const since = {};
    entry.since = new Set();
    for (const channel of channels) {
      let track = this.#tracks.get(channel);
      if (track === undefined) {
        // It may have history: its messages are held until the reply says.
        track = newTrack(0, '', true);
        this.#tracks.set(channel, track);
      } else if (!track.provisional) {
        since[channel] = sinceOf(track);
        entry.since.add(channel);
      }
      track.syncing = true;
      track.sync += 1;
    }
    return JSON.stringify(
      entry.since.size > 0 ? { action: 'subscribe', channels, since } : { action: 'subscribe', channels },
    );
  }

  /**
   * A subscribe sent by the client was answered (`data`: the `subscribed` data) or failed (null).
   * What its channels held is delivered: history and live messages in seq order, nothing twice.
   * @param {PendingRequest} entry
   * @param {Record<string, any> | null} data
   */
  #endSync(entry, data) {
    const withSince = entry.since ?? new Set();
    entry.since = null;
    const positions = data !== null && isObject(data.positions) ? data.positions : {};
    for (const channel of entry.subscribe ?? []) {
      const track = this.#tracks.get(channel);
      if (track === undefined || !track.syncing) continue;
      track.syncing = false;
      const position = positions[channel];
      if (isPosition(position)) {
        track.provisional = false;
        if (position.epoch !== '') track.epoch = position.epoch;
        if (!withSince.has(channel)) {
          // A first subscribe: the application starts after what the channel held then.
          track.seq = position.seq;
        } else {
          // Everything up to the server's latest was sent in `history` frames (or a `reset`
          // said it cannot be): what is still missing up to there never comes, so it is not
          // waited for.
          const upTo = [...track.held.keys()].filter((seq) => seq <= position.seq).sort((a, b) => a - b);
          for (const seq of upTo) {
            const held = /** @type {Held} */ (track.held.get(seq));
            track.held.delete(seq);
            if (seq <= track.seq) continue;
            track.seq = seq;
            this.#deliver(channel, track, seq, held);
            if (this.#tracks.get(channel) !== track || this.#isClosed()) return;
          }
          track.seq = Math.max(track.seq, position.seq);
        }
        this.#drain(channel, track);
      } else if (data !== null || track.provisional) {
        // No history on this channel (or the subscribe failed): nothing to track; frames held
        // meanwhile go out as they came.
        this.#dropTrack(channel, track);
        const frames = [...track.held.values()].filter((h) => !h.replayed && !h.seen).map((h) => h.frame);
        for (const frame of frames) this.#emit('message', frame);
      } else {
        this.#drain(channel, track);
      }
    }
  }

  /**
   * @param {string} channel
   * @param {Track} track
   */
  #dropTrack(channel, track) {
    if (track.gapTimer !== null) clearTimeout(track.gapTimer);
    track.gapTimer = null;
    if (this.#tracks.get(channel) === track) this.#tracks.delete(channel);
  }

  /** After an unsubscribe: the channels left are forgotten (a later subscribe starts afresh). */
  #forgetLeft() {
    for (const [channel, track] of [...this.#tracks]) {
      if (!track.syncing && !this.#channels.includes(channel)) this.#dropTrack(channel, track);
    }
  }

  /**
   * The client's own publish on a channel with history counts as delivered to it.
   * @param {Record<string, any>} data the `published` data
   */
  #published(data) {
    const channel = data.channel;
    const track = typeof channel === 'string' ? this.#tracks.get(channel) : undefined;
    if (track === undefined || track.provisional || !isSeq(data.seq) || typeof data.epoch !== 'string') return;
    if (track.epoch === '') track.epoch = data.epoch;
    if (data.epoch !== track.epoch) return;
    if (data.seq > track.seq && !track.held.has(data.seq)) {
      track.held.set(data.seq, { data: undefined, replayed: false, sync: track.sync, seen: true, frame: null });
    }
    this.#drain(channel, track);
  }

  /**
   * @param {string} channel
   * @param {Track} track
   * @param {number} seq
   * @param {unknown} data
   * @param {unknown} frame
   */
  #onLive(channel, track, seq, data, frame) {
    const held = track.held.get(seq);
    // During a resume a number at or below the position may be new: a reset with a new epoch
    // can still come. Until the reply, what arrives now is kept (see #onReset).
    const fresh = seq > track.seq || track.syncing;
    if (fresh && (held === undefined || (track.syncing && held.sync !== track.sync))) {
      track.held.set(seq, { data, replayed: false, sync: track.sync, seen: false, frame });
    }
    this.#drain(channel, track);
  }

  /**
   * @param {string} channel
   * @param {Track} track
   * @param {unknown[]} messages
   */
  #onHistory(channel, track, messages) {
    for (const message of messages) {
      if (!isObject(message) || !isSeq(message.seq)) continue;
      if (message.seq <= track.seq || track.held.has(message.seq)) continue;
      track.held.set(message.seq, { data: message.data, replayed: true, sync: track.sync, seen: false, frame: null });
    }
    this.#drain(channel, track);
  }

  /**
   * The server cannot fill the gap since the client's position: the application is told, then
   * delivery goes on from the server's latest.
   * @param {string} channel
   * @param {Track} track
   * @param {number} seq
   * @param {string} epoch
   * @param {string} reason
   */
  #onReset(channel, track, seq, epoch, reason) {
    const renumbered = epoch !== track.epoch;
    for (const [heldSeq, held] of [...track.held]) {
      // After a new epoch only what arrived during this subscribe is numbered the new way.
      if (heldSeq <= seq || (renumbered && held.sync !== track.sync)) track.held.delete(heldSeq);
    }
    track.seq = seq;
    track.epoch = epoch;
    track.provisional = false;
    this.#emit('reset', { channel, seq, epoch, reason });
    if (this.#tracks.get(channel) === track && !this.#isClosed()) this.#drain(channel, track);
  }

  /**
   * @param {string} channel
   * @param {Track} track
   * @param {number} seq
   * @param {Held} held
   */
  #deliver(channel, track, seq, held) {
    if (held.seen) return;
    this.#emit('message', held.data, { channel, seq, epoch: track.epoch, replayed: held.replayed });
  }

  /**
   * Deliver what follows the channel's position without a hole; wait `gapTimeoutMs` for a
   * missing message, then fetch it from history.
   * @param {string} channel
   * @param {Track} track
   */
  #drain(channel, track) {
    if (track.syncing || this.#isClosed()) return;
    for (;;) {
      const held = track.held.get(track.seq + 1);
      if (held === undefined) break;
      track.held.delete(track.seq + 1);
      track.seq += 1;
      this.#deliver(channel, track, track.seq, held);
      // A listener may have closed the client or left the channel.
      if (this.#tracks.get(channel) !== track || this.#isClosed() || track.syncing) return;
    }
    for (const seq of [...track.held.keys()]) if (seq <= track.seq) track.held.delete(seq);
    if (track.held.size === 0) {
      if (track.gapTimer !== null) clearTimeout(track.gapTimer);
      track.gapTimer = null;
    } else if (track.gapTimer === null) {
      track.gapTimer = setTimeout(() => {
        track.gapTimer = null;
        if (this.#tracks.get(channel) === track && track.held.size > 0) this.#fetch(channel, track);
      }, this.#gapTimeoutMs);
    }
    // Messages came before the client knew the channel's epoch (nothing was published when it
    // subscribed): learn it now, or the next resume would not be able to name its position.
    if (track.epoch === '' && !track.provisional && track.seq > 0) this.#fetch(channel, track);
  }

  /**
   * Subscribe again with `since` (idempotent for the subscription) to fetch a gap from history
   * or to learn the epoch. Only while open: a re-subscribe after a reconnect does it anyway.
   * @param {string} channel
   * @param {Track} track
   */
  #fetch(channel, track) {
    if (track.fetchQueued || track.syncing || this.#state !== 'open') return;
    track.fetchQueued = true;
    this.#enqueue({ action: 'subscribe', channels: [channel] }, 'subscribe', false, true)
      .catch(() => {
        // Lost with the connection (the re-subscribe fetches) or refused (nothing to wait for).
      })
      .finally(() => {
        track.fetchQueued = false;
      });
  }

  /** After 'open': gaps and unknown epochs left from the set-up are dealt with now. */
  #resumeTracks() {
    for (const [channel, track] of [...this.#tracks]) {
      if (!track.syncing) this.#drain(channel, track);
    }
  }

  /** The connection is gone: nothing is in flight, no gap is waited for (the re-subscribe fills it). */
  #pauseTracks() {
    for (const track of this.#tracks.values()) {
      track.syncing = false;
      if (track.gapTimer !== null) clearTimeout(track.gapTimer);
      track.gapTimer = null;
    }
  }

  /** @param {unknown} data */
  #onFrame(data) {
    let message = data;
    if (typeof data === 'string') {
      try {
        message = JSON.parse(data);
      } catch {
        message = data;
      }
    }
    if (isObject(message)) {
      if (message.type === 'pong' && this.#pings.length > 0) {
        const ping = /** @type {Ping} */ (this.#pings.shift());
        if (ping.timer !== null) clearTimeout(ping.timer);
        if (ping.raw) this.#emit('message', message);
        return;
      }
      const entry = this.#inflight;
      if (entry !== null && entry.action !== null) {
        const expected = REPLY_TYPE[entry.action];
        if (message.type === expected || message.type === 'error' || isGatewayErrorFrame(message)) {
          this.#settle(entry, message);
          return;
        }
      }
      if (typeof message.channel === 'string') {
        const track = this.#tracks.get(message.channel);
        if (track !== undefined) {
          if (message.type === 'message' && isSeq(message.seq) && message.seq > 0) {
            this.#onLive(message.channel, track, message.seq, message.data, message);
            return;
          }
          if (message.type === 'history' && Array.isArray(message.messages)) {
            this.#onHistory(message.channel, track, message.messages);
            return;
          }
          if (message.type === 'reset' && isSeq(message.seq) && typeof message.epoch === 'string') {
            this.#onReset(message.channel, track, message.seq, message.epoch, String(message.reason ?? ''));
            return;
          }
        }
      }
    }
    this.#emit('message', message);
  }

  /** Start one handshake. */
  async #connect() {
    if (this.#isClosed()) return;
    this.#retryTimer = null;
    const generation = ++this.#generation;
    const reason = this.#refusals > 0 ? 'refused' : this.#everOpened || this.#attempt > 0 ? 'reconnect' : 'connect';
    this.#emit('connecting', { attempt: this.#attempt, reason });

    let token = null;
    if (typeof this.#token === 'function') {
      try {
        token = await this.#token({ attempt: this.#attempt, reason });
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
            { status: this.#lastRefusal },
          ),
        );
        return;
      }
    } else if (this.#token != null) {
      token = this.#token;
    }

    const url = new URL(this.#url);
    if (token != null && token !== '') url.searchParams.set('token', String(token));
    if (this.#clientId != null) url.searchParams.set('clientId', this.#clientId);
    // Only a browser asking the HTTP API needs to name its handshake.
    const attemptId = this.#statusUrl !== null ? newAttemptId() : null;
    if (attemptId !== null) url.searchParams.set(ATTEMPT_PARAM, attemptId);
    this.#attemptId = attemptId;

    let socket;
    try {
      socket = new this.#WebSocket(url.href);
    } catch (cause) {
      const error = new WsBridgeError(`cannot open a WebSocket to ${this.#url}: ${String(cause)}`, 'INVALID_URL', {
        cause,
      });
      this.#fail(error);
      return;
    }
    this.#socket = socket;
    this.#socketOpened = false;
    /** @type {string | null} */
    let errorMessage = null;

    this.#connectTimer = setTimeout(() => {
      this.#connectTimer = null;
      if (this.#socket !== socket || this.#socketOpened) return;
      // No answer at all (a dead network path): give up on this handshake and back off.
      this.#abandonSocket(null, `the handshake timed out after ${this.#connectTimeoutMs} ms`);
    }, this.#connectTimeoutMs);

    socket.addEventListener('open', () => {
      if (this.#socket !== socket) return;
      this.#clearConnectTimer();
      this.#socketOpened = true;
      this.#openedAt = Date.now();
      this.#refusals = 0;
      this.#lastRefusal = null;
      void this.#setUp(socket);
    });
    socket.addEventListener('message', (/** @type {MessageEvent} */ event) => {
      if (this.#socket !== socket) return;
      this.#onFrame(event.data);
    });
    socket.addEventListener('error', (/** @type {any} */ event) => {
      // Browsers say nothing here; `ws` tells the reason, e.g. "Unexpected server response: 401".
      if (typeof event?.message === 'string' && event.message !== '') errorMessage = event.message;
      else if (event?.error instanceof Error) errorMessage = event.error.message;
    });
    socket.addEventListener('close', (/** @type {CloseEvent} */ event) => {
      if (this.#socket !== socket) return;
      const wasOpen = this.#socketOpened;
      this.#detach();
      void this.#onSocketLost({ wasOpen, code: event.code, reason: event.reason, errorMessage });
    });
  }

  /**
   * After the handshake: learn the connection id, re-subscribe, then report 'open'.
   * @param {any} socket
   */
  async #setUp(socket) {
    try {
      const welcome = await this.#enqueue({ action: 'hello' }, 'hello', true);
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
    if (this.#socket === socket) this.#resumeTracks();
    this.#pump();
  }

  /**
   * Subscribe the held channels on a new connection; if the server refuses the whole list
   * (a channel no longer granted, say), subscribe them one by one and report each refusal.
   * @param {any} socket
   */
  async #resubscribe(socket) {
    const wanted = [...this.#channels];
    try {
      await this.#enqueue({ action: 'subscribe', channels: wanted }, 'subscribe', true);
      return;
    } catch (error) {
      if (!(error instanceof WsBridgeError) || error.code !== 'SERVER_ERROR' || this.#socket !== socket) throw error;
    }
    /** @type {string[]} */
    const held = [];
    for (const channel of wanted) {
      try {
        const data = await this.#enqueue({ action: 'subscribe', channels: [channel] }, 'subscribe', true);
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
        socket.send('{"action":"ping"}');
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
    try {
      // No close handshake over a dead path: `ws` can drop the socket at once; browsers close.
      if (typeof socket.terminate === 'function') socket.terminate();
      else socket.close(code ?? 4000, reason);
    } catch {
      // Already closing.
    }
    // A handshake that timed out is no refusal: `reason` stands in for the error message.
    void this.#onSocketLost({ wasOpen, code, reason, errorMessage: wasOpen ? null : reason });
  }

  /**
   * @param {{ wasOpen: boolean, code: number | null, reason: string, errorMessage: string | null }} lost
   */
  async #onSocketLost({ wasOpen, code, reason, errorMessage }) {
    this.#connectionId = null;
    this.#socketOpened = false;
    const inflight = this.#inflight;
    this.#inflight = null;
    if (inflight !== null && inflight.since !== null) this.#endSync(inflight, null);
    this.#pauseTracks();
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
    if (this.#isClosed()) return;

    if (wasOpen) {
      if (Date.now() - this.#openedAt >= this.#resetAfterMs) this.#attempt = 0;
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
      this.#lastRefusal = status;
      this.#emit('unauthorized', { status, refusals: this.#refusals + 1, reason: why });
      if (this.#isClosed()) return; // a listener closed the client
    }
    if (status !== null && !shown && UNAUTHORIZED_STATUSES.has(status)) {
      this.#retryRefused({ code, reason: why, status });
      return;
    }
    if (status !== null && REFUSED_STATUSES.has(status)) {
      this.#refusals += 1;
      this.#lastRefusal = status;
      if (this.#refusals >= 2) {
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
      this.#emit('reconnecting', { attempt: this.#attempt, delayMs: 0, code, reason: why, status, refused: true });
      if (this.#state !== 'reconnecting') return; // a listener closed the client
      this.#retryTimer = setTimeout(() => void this.#connect(), 0);
      return;
    }
    // 429, 5xx, a network failure, a timeout, or not known: transient, back off and retry.
    this.#scheduleRetry({ code, reason: why, status });
  }

  /**
   * A browser learnt that its token was refused (401/403). The first refusal is retried at once
   * with a fresh token (an expired one, usually); further ones wait `refusedMs`, doubling up to
   * `refusedMaxMs` (half of it at least: a handful of handshakes a minute at most), each with a
   * fresh token, until one is accepted, the provider has none (no user) or the app closes.
   * @param {{ code: number | null, reason: string, status: number }} why
   */
  #retryRefused({ code, reason, status }) {
    this.#refusals += 1;
    let delayMs = 0;
    if (this.#refusals >= 2) {
      const ceiling = Math.min(this.#refusedMaxMs, this.#refusedMs * 2 ** Math.min(this.#refusals - 2, 30));
      delayMs = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    }
    this.#setState('reconnecting');
    this.#emit('reconnecting', { attempt: this.#attempt, delayMs, code, reason, status, refused: true });
    if (this.#state !== 'reconnecting') return; // a listener closed the client
    this.#retryTimer = setTimeout(() => void this.#connect(), delayMs);
  }

  /**
   * What `$connect` recorded for the handshake `attemptId`: its refusal's status, or null when
   * nothing was recorded or the question could not be asked. The route always answers 200, so
   * asking leaves nothing in the console; when it does not answer at all (the gateway is down),
   * the next questions wait `backoff.maxMs`, so that a browser logs that failure rarely.
   * @param {string | null} attemptId
   * @returns {Promise<number | null>}
   */
  async #handshakeStatus(attemptId) {
    if (this.#statusUrl === null || attemptId === null || typeof globalThis.fetch !== 'function') return null;
    const nav = /** @type {any} */ (globalThis).navigator;
    if (nav?.onLine === false || Date.now() < this.#statusPausedUntil) return null;
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = setTimeout(() => controller?.abort(), this.#statusTimeoutMs);
    try {
      const response = await fetch(`${this.#statusUrl}/handshakes/${encodeURIComponent(attemptId)}`, {
        cache: 'no-store',
        credentials: 'omit',
        signal: controller?.signal,
      });
      if (!response.ok) return null;
      const body = await response.json();
      return isObject(body) && Number.isInteger(body.status) ? body.status : null;
    } catch {
      this.#statusPausedUntil = Date.now() + this.#maxMs;
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Wait out the next backoff delay, then try again.
   * @param {{ code: number | null, reason: string, status: number | null }} why
   */
  #scheduleRetry({ code, reason, status }) {
    if (this.#isClosed()) return;
    const ceiling = Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(this.#attempt, 30));
    const delayMs = Math.round(Math.random() * ceiling);
    this.#setState('reconnecting');
    this.#emit('reconnecting', { attempt: this.#attempt, delayMs, code, reason, status, refused: false });
    this.#attempt += 1;
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
    this.#pauseTracks();
    this.#connectionId = null;
    if (socket !== null) {
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
    const pending = this.#inflight === null ? this.#queue : [this.#inflight, ...this.#queue];
    this.#inflight = null;
    this.#queue = [];
    for (const entry of pending) {
      if (entry.timer !== null) clearTimeout(entry.timer);
      entry.reject(error);
    }
  }
}
