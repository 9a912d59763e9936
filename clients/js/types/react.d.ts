import { WsBridgeClient } from './ws-bridge.js';
export type WsBridgeState = import('./ws-bridge.js').WsBridgeState;
export type WsBridgeMessage = import('./ws-bridge.js').WsBridgeMessage;
export type ErrorDetail = import('./ws-bridge.js').ErrorDetail;
export type ChannelChangeError = {
  kind: 'subscribe';
  message: string;
  error: unknown;
};
export type UseWsBridgeHookOptions<M = WsBridgeMessage> = {
  /**
   * the gateway's WebSocket URL; changing it makes a new connection
   */
  url: string;
  /**
   * channels to hold; a change subscribes/unsubscribes on the live
   * connection (no reconnect)
   */
  channels?: string[];
  /**
   * token or provider, read through a ref:
   * passing a new function does not reconnect
   */
  token?: import('./ws-bridge.js').TokenOption;
  /**
   * instead of `token`: a URL of the app (e.g. a Next.js route
   * handler, `/api/ws-token`) answering `{"token": "…"}`, fetched before every handshake (same
   * origin cookies, no cache); a 401 or 403 answer means no user (the client stops after a
   * refused handshake)
   */
  tokenUrl?: string;
  /**
   * false: no connection (default true)
   */
  enabled?: boolean;
  /**
   * called for every message that reaches 'message' listeners (meta: see MessageMeta); read through a ref
   */
  onMessage?: (message: M, meta: import('./ws-bridge.js').MessageMeta | null) => void;
  /**
   * called for every
   * 'reset' of a channel with history (reload what it shows); read through a ref
   */
  onReset?: (reset: import('./ws-bridge.js').ResetDetail) => void;
  /**
   * called for 'error'
   * events and for refused channel changes; read through a ref
   */
  onError?: (error: ErrorDetail | ChannelChangeError) => void;
  /**
   * called for every 'unauthorized' event (the gateway refused the token); read through a ref
   */
  onUnauthorized?: (refusal: import('./ws-bridge.js').UnauthorizedDetail) => void;
};
export type UseWsBridgeOptions<M = WsBridgeMessage> = Omit<
  import('./ws-bridge.js').WsBridgeOptions,
  'url' | 'channels' | 'token'
> &
  UseWsBridgeHookOptions<M>;
export type UseWsBridgeResult<M = WsBridgeMessage> = {
  state: WsBridgeState;
  connectionId: string | null;
  /**
   * the live client (null before the first effect ran, or when disabled)
   */
  client: WsBridgeClient | null;
  /**
   * the last message that reached 'message' listeners, or null
   */
  lastMessage: M | null;
  /**
   * the last error, cleared when a connection opens
   */
  error: ErrorDetail | ChannelChangeError | null;
};
/**
 * Connect while mounted: `{ state, connectionId, client, lastMessage, error }`.
 * The client is created after mount and closed on unmount (it never reconnects after that).
 * A new client is made only when url, clientId, WebSocket, enabled, statusUrl or one of the
 * numeric options (keepAliveMs, backoff, maxQueue and the timeouts, gapTimeoutMs) change.
 * @template [M=WsBridgeMessage] the application's messages
 * @param {UseWsBridgeOptions<M>} options
 * @returns {UseWsBridgeResult<M>}
 */
export declare function useWsBridge<M = WsBridgeMessage>(options: UseWsBridgeOptions<M>): UseWsBridgeResult<M>;
export type WsBridgeContextValue = {
  /**
   * null on the server and before the provider mounted
   */
  client: WsBridgeClient | null;
  state: WsBridgeState;
  connectionId: string | null;
  error: ErrorDetail | ChannelChangeError | null;
  /**
   * the channels mounted useChannel hooks hold
   */
  holders: Map<string, ChannelHold>;
  /**
   * the provider's own `channels`, never left by useChannel
   */
  pinned: string[];
};
export type ChannelHold = {
  /**
   * how many mounted hooks hold it
   */
  count: number;
  /**
   * its subscribe, answered
   */
  ready: Promise<unknown>;
};
export type WsBridgeProviderProps = UseWsBridgeOptions & {
  children?: import('react').ReactNode;
};
/**
 * @typedef {UseWsBridgeOptions & { children?: import('react').ReactNode }} WsBridgeProviderProps
 *   the client's options (see useWsBridge); `channels` are held for the provider's lifetime,
 *   `useChannel` adds and removes others
 */
/**
 * One connection for everything under it, made after mount and closed on unmount: put it in a
 * layout (the App Router's `app/layout.tsx`, through a client component) and pages navigated to
 * under that layout share it instead of connecting again.
 * @param {WsBridgeProviderProps} props
 * @returns {import('react').ReactElement}
 */
export declare function WsBridgeProvider({ children, ...options }: WsBridgeProviderProps): import('react').ReactElement;
/**
 * The provider's connection: `{ client, state, connectionId, error }`. Throws outside a
 * WsBridgeProvider.
 * @returns {WsBridgeContextValue}
 */
export declare function useWsBridgeContext(): WsBridgeContextValue;
export type UseChannelOptions<M = WsBridgeMessage> = {
  /**
   * called for each message of the channel, read through a ref. On a channel with history a
   * message names its channel (meta.channel) and only the channel's own reach this; elsewhere the
   * gateway delivers the posted JSON as is, naming no channel, so every message of the connection
   * does: tell them apart by their content.
   */
  onMessage?: (message: M, meta: import('./ws-bridge.js').MessageMeta | null) => void;
  /**
   * called when the
   * channel's history could not fill a gap (reload what the component shows); read through a ref
   */
  onReset?: (reset: import('./ws-bridge.js').ResetDetail) => void;
  /**
   * false: not subscribed (default true)
   */
  enabled?: boolean;
};
export type UseChannelResult = {
  /**
   * the provider's connection
   */
  state: WsBridgeState;
  connectionId: string | null;
  /**
   * the connection is open and holds the channel: from now on its
   * messages reach `onMessage` (what was published before is not, unless the channel has history
   * and the client resumes from a position)
   */
  subscribed: boolean;
};
/**
 * @template [M=WsBridgeMessage]
 * @typedef {object} UseChannelOptions
 * @property {(message: M, meta: import('./ws-bridge.js').MessageMeta | null) => void} [onMessage]
 *   called for each message of the channel, read through a ref. On a channel with history a
 *   message names its channel (meta.channel) and only the channel's own reach this; elsewhere the
 *   gateway delivers the posted JSON as is, naming no channel, so every message of the connection
 *   does: tell them apart by their content.
 * @property {(reset: import('./ws-bridge.js').ResetDetail) => void} [onReset] called when the
 *   channel's history could not fill a gap (reload what the component shows); read through a ref
 * @property {boolean} [enabled] false: not subscribed (default true)
 */
/**
 * @typedef {object} UseChannelResult
 * @property {WsBridgeState} state the provider's connection
 * @property {string | null} connectionId
 * @property {boolean} subscribed the connection is open and holds the channel: from now on its
 *   messages reach `onMessage` (what was published before is not, unless the channel has history
 *   and the client resumes from a position)
 */
/**
 * Hold `channel` on the provider's connection while the component is mounted (subscribed once
 * however many components hold it, left when the last one unmounts) and hear its messages.
 * @template [M=WsBridgeMessage] the application's messages on this channel
 * @param {string} channel
 * @param {UseChannelOptions<M>} [options]
 * @returns {UseChannelResult}
 */
export declare function useChannel<M = WsBridgeMessage>(
  channel: string,
  options?: UseChannelOptions<M>,
): UseChannelResult;
/**
 * The members of a presence channel (the gateway's PRESENCE_CHANNELS), in user order,
 * re-rendered on every join, leave and fresh list: the provider's connection's, or `client`'s
 * when given (e.g. `useWsBridge(...).client`). `[]` while there is no client or it does not hold
 * the channel: hold it with `useChannel` or the provider's `channels`. A reconnect within the
 * gateway's grace period changes nothing: the client's own user stays a member.
 * @param {string} channel
 * @param {WsBridgeClient | null} [client] default: the WsBridgeProvider's
 * @returns {import('./ws-bridge.js').Member[]}
 */
export declare function usePresence(channel: string, client?: WsBridgeClient | null): import('./ws-bridge.js').Member[];
