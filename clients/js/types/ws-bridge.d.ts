import { WsBridgeError } from './errors.js';
export { WsBridgeError };
export type WsBridgeErrorCode = import('./errors.js').WsBridgeErrorCode;
export type BackoffOptions = import('./backoff.js').BackoffOptions;
export type Position = import('./core/protocol.js').Position;
export type MessageMeta = import('./core/protocol.js').MessageMeta;
export type ResetDetail = import('./core/protocol.js').ResetDetail;
export type PublishedData = import('./core/protocol.js').PublishedData;
export type LaneAction = import('./core/protocol.js').LaneAction;
export type Member = import('./core/protocol.js').Member;
export type MemberPage = import('./core/protocol.js').MemberPage;
export type PresenceDetail = {
  channel: string;
  /**
   * in user order
   */
  members: Member[];
};
export type PublishOptions = {
  /**
   * a typing indicator and the like: delivered to the channel's
   * other subscribers, never numbered, stored or sent to webhooks
   */
  ephemeral?: boolean;
};
export type WsBridgeState = 'connecting' | 'open' | 'reconnecting' | 'closed';
export type TokenContext = {
  /**
   * the backoff step: retries since the last connection that stayed up (0 at first)
   */
  attempt: number;
  /**
   * why a token is wanted: the first
   * connection, a reconnect, or a retry after a refused handshake (do not return a cached token
   * then; return null when there is no user any more: the client stops)
   */
  reason: 'connect' | 'reconnect' | 'refused';
};
export type TokenOption =
  | string
  | null
  | undefined
  | ((context: TokenContext) => string | null | undefined | Promise<string | null | undefined>);
export type WebSocketLike = {
  readyState: number;
  send: (data: string) => void;
  close: (code?: number, reason?: string) => void;
  addEventListener: (type: string, listener: (event: any) => void) => void;
};
export type WebSocketConstructor = new (url: string) => WebSocketLike;
export type WsBridgeOptions = {
  /**
   * the gateway's WebSocket URL, e.g. `ws://127.0.0.1:3001/dev` (ws: or wss:)
   */
  url: string;
  /**
   * channels to hold from the start; subscribed on every connection
   * before `open`
   */
  channels?: string[];
  /**
   * a token, or a provider called before every handshake; sent as `?token=`
   */
  token?: TokenOption;
  /**
   * sent as `?clientId=`
   */
  clientId?: string;
  /**
   * `{"action":"ping"}` cadence while open, in ms; 0 turns
   * keep-alive off (default 240000)
   */
  keepAliveMs?: number;
  /**
   * capped exponential backoff with full jitter
   */
  backoff?: BackoffOptions;
  /**
   * requests and frames that may wait to be sent while not open (default 100)
   */
  maxQueue?: number;
  /**
   * how long a subscribe/unsubscribe/publish waits for its
   * reply, in ms (default 35000)
   */
  requestTimeoutMs?: number;
  /**
   * how long a handshake may take before it is abandoned and
   * retried, in ms (default 30000)
   */
  connectTimeoutMs?: number;
  /**
   * how long a keep-alive ping may wait for its pong before the
   * connection is taken for dead, in ms (default 30000)
   */
  pongTimeoutMs?: number;
  /**
   * the gateway's HTTP API base (`http://127.0.0.1:3001/dev`
   * locally, the stack's `HttpApiUrl` on AWS). A browser cannot see why a handshake failed; with
   * this set it asks `GET {statusUrl}/handshakes/{attempt id}` (the id it put on the handshake as
   * `?ws_bridge_attempt=`), so that it can tell a refused token (401/403) from a transient
   * failure. Without it, every failed handshake in a browser is taken as transient.
   */
  statusUrl?: string;
  /**
   * how long that question may take, in ms (default 5000)
   */
  statusTimeoutMs?: number;
  /**
   * where to resume channels with history from,
   * e.g. `client.positions` saved before a page reload: the first subscribe of each named channel
   * asks for what came after it
   */
  positions?: Record<string, Position>;
  /**
   * on a channel with history, how long a message that arrived
   * ahead of a missing one waits for it before the client fetches the gap from the history, in ms
   * (default 1000). A gap fetched once is never waited for again.
   */
  gapTimeoutMs?: number;
  /**
   * the
   * WebSocket class; default `globalThis.WebSocket`. In Node 20 pass `ws`'s default export.
   */
  WebSocket?: WebSocketConstructor | (abstract new (...args: any[]) => unknown);
};
export type WsBridgeMessage =
  | {
      type?: string;
      [key: string]: unknown;
    }
  | string;
export type ConnectingDetail = {
  attempt: number;
  reason: TokenContext['reason'];
};
export type OpenDetail = {
  connectionId: string | null;
  channels: string[];
};
export type ReconnectingDetail = {
  /**
   * the backoff step this delay was drawn from
   */
  attempt: number;
  /**
   * how long the client waits before the next handshake
   */
  delayMs: number;
  /**
   * the close code of the lost connection (1006 for a failed
   * handshake; null for a timed-out handshake or a failed token provider)
   */
  code: number | null;
  /**
   * the close reason, or why the handshake failed
   */
  reason: string;
  /**
   * the failed handshake's HTTP status where known (shown by Node
   * `ws`, or told by `statusUrl`), else null
   */
  status: number | null;
  /**
   * true when the handshake was refused (400/401/403) and the next one
   * comes with a fresh token
   */
  refused: boolean;
};
export type UnauthorizedDetail = {
  status: number;
  /**
   * refusals in a row, this one included
   */
  refusals: number;
  reason: string;
};
export type ClosedDetail = {
  /**
   * the code sent by close(), or null when the client stopped on its own
   */
  code: number | null;
  reason: string;
  /**
   * true after the application's close()
   */
  byClient: boolean;
  /**
   * why the client stopped on its own
   * (`HANDSHAKE_REFUSED`, `INVALID_URL`), else null
   */
  error: WsBridgeError | null;
};
export type ErrorDetail = {
  /**
   * `fatal`: the client stopped (followed by
   * `closed`); `token`: the provider failed (it backs off and retries); `subscribe`: a held
   * channel was refused when re-subscribing after a reconnect
   */
  kind: 'fatal' | 'token' | 'subscribe';
  message: string;
  /**
   * the refused handshake's HTTP status, for `fatal` when visible
   */
  status?: number | null;
  /**
   * the channel, for `subscribe`
   */
  channel?: string;
  error: WsBridgeError;
};
export type WsBridgeEventMap = {
  connecting: ConnectingDetail;
  open: OpenDetail;
  reconnecting: ReconnectingDetail;
  closed: ClosedDetail;
  message: WsBridgeMessage;
  error: ErrorDetail;
  reset: ResetDetail;
  unauthorized: UnauthorizedDetail;
  presence: PresenceDetail;
};
export type WsBridgeEventType = keyof WsBridgeEventMap;
export type WsBridgeEventListener<K extends WsBridgeEventType> = (
  event: CustomEvent<WsBridgeEventMap[K]> & {
    readonly meta?: MessageMeta;
  },
) => void;
export type Ping = {
  /**
   * sent with send(): its pong goes to 'message' listeners
   */
  raw: boolean;
  /**
   * the pong deadline of a keep-alive ping
   */
  timer: ReturnType<typeof setTimeout> | null;
};
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
export declare class WsBridgeClient extends EventTarget {
  #private;
  /** @param {WsBridgeOptions} options */
  constructor(options: WsBridgeOptions);
  /** @returns {WsBridgeState} */
  get state(): WsBridgeState;
  /**
   * From `hello`, refreshed on every (re)connect before `open`; null while not open.
   * @returns {string | null}
   */
  get connectionId(): string | null;
  /**
   * The channels held: the server's list after each subscribe/unsubscribe (a copy).
   * @returns {string[]}
   */
  get channels(): string[];
  /**
   * Where each channel with history stands: `{ [channel]: { seq, epoch } }`, `seq` being the last
   * message delivered (a copy). Save it (e.g. in sessionStorage) and pass it back as the
   * `positions` option to resume after a page reload.
   * @returns {Record<string, Position>}
   */
  get positions(): Record<string, Position>;
  /**
   * Listen to an event; the listener gets the event's detail (and, for 'message', the message's
   * `{ channel, seq, epoch, replayed }` on a channel with history, else null). Returns a function
   * that removes it.
   * @template {WsBridgeEventType} K
   * @param {K} type
   * @param {(detail: WsBridgeEventMap[K], meta: K extends 'message' ? MessageMeta | null : null) => void} listener
   * @returns {() => void}
   */
  on<K extends WsBridgeEventType>(
    type: K,
    listener: (detail: WsBridgeEventMap[K], meta: K extends 'message' ? MessageMeta | null : null) => void,
  ): () => void;
  /**
   * Listen to the messages whose `type` equals `type`. Returns a function that removes the listener.
   * @template {{ type?: string }} [T={ type: string, [key: string]: unknown }]
   * @param {string} type
   * @param {(message: T, meta: MessageMeta | null) => void} listener
   * @returns {() => void}
   */
  onMessage<
    T extends {
      type?: string;
    } = {
      type: string;
      [key: string]: unknown;
    },
  >(type: string, listener: (message: T, meta: MessageMeta | null) => void): () => void;
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
  addEventListener<K extends string>(
    type: K,
    listener: (K extends WsBridgeEventType ? WsBridgeEventListener<K> : EventListenerOrEventListenerObject) | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /**
   * @override
   * @template {string} K
   * @param {K} type
   * @param {(K extends WsBridgeEventType ? WsBridgeEventListener<K> : EventListenerOrEventListenerObject) | null} listener
   * @param {boolean | EventListenerOptions} [options]
   * @returns {void}
   */
  removeEventListener<K extends string>(
    type: K,
    listener: (K extends WsBridgeEventType ? WsBridgeEventListener<K> : EventListenerOrEventListenerObject) | null,
    options?: boolean | EventListenerOptions,
  ): void;
  /**
   * Join channels. Resolves with the server's list of all the connection's channels; rejects with
   * the error frame's text.
   * @param {string | string[]} channels
   * @returns {Promise<string[]>}
   */
  subscribe(channels: string | string[]): Promise<string[]>;
  /**
   * Leave channels. Resolves with the server's list of the channels still held.
   * @param {string | string[]} channels
   * @returns {Promise<string[]>}
   */
  unsubscribe(channels: string | string[]): Promise<string[]>;
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
  publish(channel: string, data: unknown, options?: PublishOptions): Promise<PublishedData>;
  /**
   * The members of a presence channel held (the gateway's PRESENCE_CHANNELS), in user order: the
   * list of the last subscribe, kept up to date by `presence.join` / `presence.leave` (a copy).
   * The 'presence' event tells when it changes.
   * @param {string} channel
   * @returns {Member[]}
   */
  members(channel: string): Member[];
  /**
   * Ask the gateway for every member of a presence channel the connection is in (page by page),
   * and keep that list as `members(channel)`.
   * @param {string} channel
   * @returns {Promise<Member[]>}
   */
  presence(channel: string): Promise<Member[]>;
  /**
   * Send a raw frame (an object, sent as JSON, or a string). Queued while not open;
   * throws a WsBridgeError when the queue is full or the client is closed.
   * @param {unknown} frame
   * @returns {void}
   */
  send(frame: unknown): void;
  /**
   * Close for good: no reconnect afterwards. Pending requests are rejected.
   * @param {number} [code] close code sent to the server (default 1000)
   * @param {string} [reason]
   * @returns {void}
   */
  close(code?: number, reason?: string): void;
}
