// Types of @ws-bridge/client/react (src/react.js).
// SPDX-License-Identifier: MIT OR Apache-2.0

import type {
  ErrorDetail,
  MessageMeta,
  ResetDetail,
  TokenOption,
  UnauthorizedDetail,
  WsBridgeClient,
  WsBridgeMessage,
  WsBridgeOptions,
  WsBridgeState,
} from './ws-bridge.js';

/** The client's options, with what changing each one does in a component. */
/** `positions` is read when a client is made (a change does not reconnect). */
export interface UseWsBridgeOptions extends Omit<WsBridgeOptions, 'url' | 'channels' | 'token'> {
  /** The gateway's WebSocket URL; changing it makes a new connection. */
  url: string;
  /** Channels to hold; a change subscribes/unsubscribes on the live connection (no reconnect). */
  channels?: string[];
  /** Token or provider, read through a ref: passing a new function does not reconnect. */
  token?: TokenOption;
  /** false: no connection (default true). */
  enabled?: boolean;
  /** Called for every message that reaches 'message' listeners (meta: see MessageMeta); read through a ref. */
  onMessage?: (message: WsBridgeMessage, meta: MessageMeta | null) => void;
  /** Called for every 'reset' of a channel with history (reload what it shows); read through a ref. */
  onReset?: (reset: ResetDetail) => void;
  /** Called for 'error' events and for refused channel changes; read through a ref. */
  onError?: (error: ErrorDetail | { kind: 'subscribe'; message: string; error: unknown }) => void;
  /** Called for every 'unauthorized' event (the gateway refused the token); read through a ref. */
  onUnauthorized?: (refusal: UnauthorizedDetail) => void;
}

export interface UseWsBridgeResult {
  state: WsBridgeState;
  connectionId: string | null;
  /** The live client (null before the first effect ran, or when disabled). */
  client: WsBridgeClient | null;
  /** The last message that reached 'message' listeners, or null. */
  lastMessage: WsBridgeMessage | null;
  /** The last error, cleared when a connection opens. */
  error: ErrorDetail | { kind: 'subscribe'; message: string; error: unknown } | null;
}

/**
 * Connect while the component is mounted; close (never to reconnect) on unmount.
 * A new connection is made only when url, clientId, WebSocket, enabled, statusUrl or one of the
 * numeric options (keepAliveMs, backoff, maxQueue, the timeouts and gapTimeoutMs) change.
 */
export function useWsBridge(options: UseWsBridgeOptions): UseWsBridgeResult;
