// Types of @ws-bridge/client (src/ws-bridge.js).
// SPDX-License-Identifier: MIT OR Apache-2.0

/** `connecting` until the first connection is set up, `open` while usable, `reconnecting` between connections, `closed` for good. */
export type WsBridgeState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** What the token provider is told about the handshake it is asked a token for. */
export interface TokenContext {
  /** The backoff step: retries since the last connection that stayed up (0 at first). */
  attempt: number;
  /**
   * `connect` for the very first handshake, `reconnect` for later ones, `refused` for retries
   * after a refused handshake: return a freshly minted token then, not a cached one, or null
   * when there is no user any more (the client then stops).
   */
  reason: 'connect' | 'reconnect' | 'refused';
}

/** A token, or a provider called before every handshake (null/undefined/'' → no `?token=`). */
export type TokenOption =
  | string
  | null
  | undefined
  | ((context: TokenContext) => string | null | undefined | Promise<string | null | undefined>);

export interface BackoffOptions {
  /** Ceiling of the first delay in ms (default 500). */
  initialMs?: number;
  /** Cap of every delay in ms (default 30000). */
  maxMs?: number;
  /** A connection that stayed open this long (ms) starts the schedule again from `initialMs` (default 5000). */
  resetAfterMs?: number;
  /**
   * After a second refusal (401/403, learnt from `statusUrl`) in a row, the delay before the next
   * handshake is drawn from [refusedMs/2, refusedMs], doubling with each further refusal (default 20000).
   */
  refusedMs?: number;
  /** Cap of the delays after refusals, in ms (default 300000). */
  refusedMaxMs?: number;
}

/** The part of the WebSocket API the client uses: browsers' `WebSocket`, `ws` and undici's qualify. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: any) => void): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface WsBridgeOptions {
  /** The gateway's WebSocket URL, e.g. `ws://127.0.0.1:3001/dev` (ws: or wss:). */
  url: string;
  /** Channels to hold from the start; subscribed on every connection before `open`. */
  channels?: string[];
  /** A token or a provider, called before every handshake; sent as `?token=`. */
  token?: TokenOption;
  /** Sent as `?clientId=`. */
  clientId?: string;
  /** `{"action":"ping"}` cadence while open, in ms; 0 turns keep-alive off (default 240000). */
  keepAliveMs?: number;
  /** Capped exponential backoff with full jitter. */
  backoff?: BackoffOptions;
  /** Requests and frames that may wait to be sent while not open (default 100). */
  maxQueue?: number;
  /** How long a subscribe/unsubscribe/publish waits for its reply, in ms (default 35000). */
  requestTimeoutMs?: number;
  /** How long a handshake may take before it is abandoned and retried, in ms (default 30000). */
  connectTimeoutMs?: number;
  /** How long a keep-alive ping may wait for its pong before the connection is taken for dead, in ms (default 30000). */
  pongTimeoutMs?: number;
  /**
   * The gateway's HTTP API base (`http://127.0.0.1:3001/dev` locally, the stack's `HttpApiUrl` on
   * AWS). A browser cannot see why a handshake failed; with this set it asks
   * `GET {statusUrl}/handshakes/{attempt id}` (the id it put on the handshake as
   * `?ws_bridge_attempt=`), so that it can tell a refused token (401/403) from a transient failure.
   * Without it, every failed handshake in a browser is taken as transient.
   */
  statusUrl?: string;
  /** How long that question may take, in ms (default 5000). */
  statusTimeoutMs?: number;
  /**
   * Where to resume channels with history from, e.g. `client.positions` saved before a page
   * reload: the first subscribe of each named channel asks for what came after it.
   */
  positions?: Record<string, Position>;
  /**
   * On a channel with history, how long a message that arrived ahead of a missing one waits for
   * it before the client fetches the gap from the history, in ms (default 1000). A gap fetched
   * once is never waited for again.
   */
  gapTimeoutMs?: number;
  /** The WebSocket class; default `globalThis.WebSocket`. In Node 20 pass `ws`'s default export. */
  WebSocket?: WebSocketConstructor | (abstract new (...args: any[]) => unknown);
}

export type WsBridgeErrorCode =
  /** The client was closed (by close(), or after a fatal error) before the request was answered. */
  | 'CLOSED'
  /** More than `maxQueue` requests would be waiting. */
  | 'QUEUE_FULL'
  /** The server answered the request with an error frame (`frame` holds it). */
  | 'SERVER_ERROR'
  /** No reply within `requestTimeoutMs`. */
  | 'TIMEOUT'
  /** The connection was lost while a publish was in flight; it may or may not have been delivered. */
  | 'CONNECTION_LOST'
  /**
   * The client stopped after refused handshakes: a status shown by the WebSocket implementation
   * (Node) twice in a row, a 400, or the token provider returned no token after a refusal.
   */
  | 'HANDSHAKE_REFUSED'
  /** The token provider threw or rejected (the client backs off and asks again). */
  | 'TOKEN'
  /** The WebSocket constructor refused the URL (e.g. ws:// from an https:// page); the client stopped. */
  | 'INVALID_URL';

export class WsBridgeError extends Error {
  constructor(
    message: string,
    code: WsBridgeErrorCode,
    extra?: { status?: number | null; frame?: unknown; cause?: unknown },
  );
  readonly name: 'WsBridgeError';
  readonly code: WsBridgeErrorCode;
  /** The refused handshake's HTTP status, where known (shown by `ws`, or told by `statusUrl`). */
  readonly status: number | null;
  /** The server's error frame, for `SERVER_ERROR`. */
  readonly frame: unknown;
}

/** `{ "type": "published", "data": … }` */
export interface PublishedData {
  channel: string;
  connectionCount: number;
  sent: number;
  /** On a channel with history: the message's number (it counts as delivered to this client). */
  seq?: number;
  /** On a channel with history: the numbering `seq` belongs to. */
  epoch?: string;
}

/** Where a channel with history stands for this client. */
export interface Position {
  /** The last message delivered (or counted as seen); 0 before the first. */
  seq: number;
  /** The channel's numbering; '' while the client has not learnt it (nothing published yet). */
  epoch: string;
}

/** The second argument of 'message' listeners: set for messages of channels with history, else null. */
export interface MessageMeta {
  channel: string;
  seq: number;
  epoch: string;
  /** True when the message was missed live and came from the channel's history on a resume. */
  replayed: boolean;
}

/**
 * A channel's history could not fill the gap since the client's position: messages were missed
 * and will not come. Reload the state the channel's messages update; delivery goes on after `seq`.
 */
export interface ResetDetail {
  channel: string;
  /** The channel's latest number: the next message delivered is `seq + 1`. */
  seq: number;
  epoch: string;
  /** The server's reason: `epoch changed`, `history expired`, `history trimmed`, `ahead of the server`. */
  reason: string;
}

/**
 * A frame from the server: a broadcast is whatever JSON object the backend posted. On a channel
 * with history it is the posted object too (the envelope's `data`); `seq` is in the MessageMeta.
 */
export type WsBridgeMessage = { type?: string; [key: string]: unknown } | string;

export interface ConnectingDetail {
  attempt: number;
  reason: TokenContext['reason'];
}

export interface OpenDetail {
  connectionId: string | null;
  channels: string[];
}

export interface ReconnectingDetail {
  /** The backoff step this delay was drawn from. */
  attempt: number;
  /** How long the client waits before the next handshake. */
  delayMs: number;
  /** The close code of the lost connection (1006 for a failed handshake; null for a timed-out handshake or a failed token provider). */
  code: number | null;
  /** The close reason, or why the handshake failed. */
  reason: string;
  /** The failed handshake's HTTP status where known (shown by Node `ws`, or told by `statusUrl`), else null. */
  status: number | null;
  /** True when the handshake was refused (400/401/403) and the next one comes with a fresh token. */
  refused: boolean;
}

/** The gateway refused the token (401) or what it grants (403): e.g. log the user out. */
export interface UnauthorizedDetail {
  status: number;
  /** Refusals in a row, this one included. */
  refusals: number;
  reason: string;
}

export interface ClosedDetail {
  /** The code sent by close(), or null when the client stopped on its own. */
  code: number | null;
  reason: string;
  /** True after the application's close(). */
  byClient: boolean;
  /** Why the client stopped on its own (`HANDSHAKE_REFUSED`, `INVALID_URL`), else null. */
  error: WsBridgeError | null;
}

export interface ErrorDetail {
  /**
   * `fatal`: the client stopped (followed by `closed`); `token`: the provider failed (it backs off
   * and retries); `subscribe`: a held channel was refused when re-subscribing after a reconnect.
   */
  kind: 'fatal' | 'token' | 'subscribe';
  message: string;
  /** The refused handshake's HTTP status, for `fatal` when visible. */
  status?: number | null;
  /** The channel, for `subscribe`. */
  channel?: string;
  error: WsBridgeError;
}

export interface WsBridgeEventMap {
  connecting: ConnectingDetail;
  open: OpenDetail;
  reconnecting: ReconnectingDetail;
  closed: ClosedDetail;
  message: WsBridgeMessage;
  error: ErrorDetail;
  reset: ResetDetail;
  unauthorized: UnauthorizedDetail;
}

export type WsBridgeEventType = keyof WsBridgeEventMap;

export class WsBridgeClient extends EventTarget {
  constructor(options: WsBridgeOptions);

  readonly state: WsBridgeState;
  /** From `hello`, refreshed on every (re)connect before `open`; null while not open. */
  readonly connectionId: string | null;
  /** The channels held: the server's list after each subscribe/unsubscribe (a copy). */
  readonly channels: string[];
  /**
   * Where each channel with history stands (a copy): save it (e.g. in sessionStorage) and pass it
   * back as the `positions` option to resume after a reload.
   */
  readonly positions: Record<string, Position>;

  /**
   * Listen to an event; the listener gets its detail (for 'message', also the message's
   * MessageMeta on a channel with history, else null). Returns a function that removes the listener.
   */
  on<K extends WsBridgeEventType>(
    type: K,
    listener: (detail: WsBridgeEventMap[K], meta: K extends 'message' ? MessageMeta | null : null) => void,
  ): () => void;
  /** Listen to the messages whose `type` equals `type`. Returns a function that removes the listener. */
  onMessage<T extends { type?: string } = { type: string; [key: string]: unknown }>(
    type: string,
    listener: (message: T, meta: MessageMeta | null) => void,
  ): () => void;

  /** Resolves with the server's list of all the connection's channels; rejects with the error frame's text. */
  subscribe(channels: string | string[]): Promise<string[]>;
  /** Resolves with the server's list of the channels still held. */
  unsubscribe(channels: string | string[]): Promise<string[]>;
  /** Resolves with the `published` data (needs CLIENT_PUBLISH on the server). */
  publish(channel: string, data: unknown): Promise<PublishedData>;
  /** A raw frame (object → JSON, or text); queued while not open; throws WsBridgeError when full or closed. */
  send(frame: unknown): void;
  /** Close for good; no reconnect afterwards. */
  close(code?: number, reason?: string): void;

  /** A 'message' event of a channel with history also carries `event.meta` (a MessageMeta). */
  addEventListener<K extends WsBridgeEventType>(
    type: K,
    listener: (event: CustomEvent<WsBridgeEventMap[K]> & { readonly meta?: MessageMeta }) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends WsBridgeEventType>(
    type: K,
    listener: (event: CustomEvent<WsBridgeEventMap[K]> & { readonly meta?: MessageMeta }) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
}
