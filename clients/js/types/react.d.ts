import { WsBridgeClient } from './ws-bridge.js';
export type WsBridgeState = import('./ws-bridge.js').WsBridgeState;
export type WsBridgeMessage = import('./ws-bridge.js').WsBridgeMessage;
export type ErrorDetail = import('./ws-bridge.js').ErrorDetail;
export type ChannelChangeError = {
  kind: 'subscribe';
  message: string;
  error: unknown;
};
export type UseWsBridgeHookOptions = {
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
   * false: no connection (default true)
   */
  enabled?: boolean;
  /**
   * called for every message that reaches 'message' listeners (meta: see MessageMeta); read through a ref
   */
  onMessage?: (message: WsBridgeMessage, meta: import('./ws-bridge.js').MessageMeta | null) => void;
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
export type UseWsBridgeOptions = Omit<import('./ws-bridge.js').WsBridgeOptions, 'url' | 'channels' | 'token'> &
  UseWsBridgeHookOptions;
export type UseWsBridgeResult = {
  state: WsBridgeState;
  connectionId: string | null;
  /**
   * the live client (null before the first effect ran, or when disabled)
   */
  client: WsBridgeClient | null;
  /**
   * the last message that reached 'message' listeners, or null
   */
  lastMessage: WsBridgeMessage | null;
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
 * @param {UseWsBridgeOptions} options
 * @returns {UseWsBridgeResult}
 */
export declare function useWsBridge(options: UseWsBridgeOptions): UseWsBridgeResult;
/**
 * The members of a presence channel (the gateway's PRESENCE_CHANNELS) that `client` holds, in
 * user order, re-rendered on every join, leave and fresh list (`[]` while `client` is null or
 * not in the channel). A reconnect of `client` within the gateway's grace period changes
 * nothing: its own user stays a member.
 * @param {WsBridgeClient | null} client e.g. `useWsBridge(...).client`
 * @param {string} channel
 * @returns {import('./ws-bridge.js').Member[]}
 */
export declare function usePresence(client: WsBridgeClient | null, channel: string): import('./ws-bridge.js').Member[];
