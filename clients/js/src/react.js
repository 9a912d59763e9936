// useWsBridge: a React hook around WsBridgeClient; usePresence: a presence channel's members.
// SPDX-License-Identifier: MIT OR Apache-2.0

import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { WsBridgeClient } from './ws-bridge.js';

/** @typedef {import('./ws-bridge.js').WsBridgeState} WsBridgeState */
/** @typedef {import('./ws-bridge.js').WsBridgeMessage} WsBridgeMessage */
/** @typedef {import('./ws-bridge.js').ErrorDetail} ErrorDetail */

/** @typedef {{ kind: 'subscribe', message: string, error: unknown }} ChannelChangeError a refused channel change */

/**
 * @typedef {object} UseWsBridgeHookOptions what the hook adds to the client's options
 * @property {string} url the gateway's WebSocket URL; changing it makes a new connection
 * @property {string[]} [channels] channels to hold; a change subscribes/unsubscribes on the live
 *   connection (no reconnect)
 * @property {import('./ws-bridge.js').TokenOption} [token] token or provider, read through a ref:
 *   passing a new function does not reconnect
 * @property {boolean} [enabled] false: no connection (default true)
 * @property {(message: WsBridgeMessage, meta: import('./ws-bridge.js').MessageMeta | null) => void} [onMessage]
 *   called for every message that reaches 'message' listeners (meta: see MessageMeta); read through a ref
 * @property {(reset: import('./ws-bridge.js').ResetDetail) => void} [onReset] called for every
 *   'reset' of a channel with history (reload what it shows); read through a ref
 * @property {(error: ErrorDetail | ChannelChangeError) => void} [onError] called for 'error'
 *   events and for refused channel changes; read through a ref
 * @property {(refusal: import('./ws-bridge.js').UnauthorizedDetail) => void} [onUnauthorized]
 *   called for every 'unauthorized' event (the gateway refused the token); read through a ref
 */

/**
 * @typedef {Omit<import('./ws-bridge.js').WsBridgeOptions, 'url' | 'channels' | 'token'> & UseWsBridgeHookOptions} UseWsBridgeOptions
 *   the client's options, with what changing each one does in a component; `positions` is read
 *   when a client is made (a change does not reconnect)
 */

/**
 * @typedef {object} UseWsBridgeResult
 * @property {WsBridgeState} state
 * @property {string | null} connectionId
 * @property {WsBridgeClient | null} client the live client (null before the first effect ran, or when disabled)
 * @property {WsBridgeMessage | null} lastMessage the last message that reached 'message' listeners, or null
 * @property {ErrorDetail | ChannelChangeError | null} error the last error, cleared when a connection opens
 */

// useLayoutEffect keeps the refs current before any event can fire; on a server it would
// warn in older React versions, and nothing fires there anyway.
const useIsomorphicLayoutEffect = typeof document !== 'undefined' ? useLayoutEffect : useEffect;

/**
 * Connect while mounted: `{ state, connectionId, client, lastMessage, error }`.
 * The client is created after mount and closed on unmount (it never reconnects after that).
 * A new client is made only when url, clientId, WebSocket, enabled, statusUrl or one of the
 * numeric options (keepAliveMs, backoff, maxQueue and the timeouts, gapTimeoutMs) change.
 * @param {UseWsBridgeOptions} options
 * @returns {UseWsBridgeResult}
 */
export function useWsBridge(options) {
  const {
    url,
    channels,
    clientId,
    keepAliveMs,
    backoff,
    maxQueue,
    requestTimeoutMs,
    connectTimeoutMs,
    pongTimeoutMs,
    statusUrl,
    statusTimeoutMs,
    gapTimeoutMs,
    WebSocket: WebSocketImpl,
    enabled = true,
  } = options;

  const latest = useRef(options);
  useIsomorphicLayoutEffect(() => {
    latest.current = options;
  });

  const [client, setClient] = useState(/** @type {WsBridgeClient | null} */ (null));
  const [state, setState] = useState(/** @type {WsBridgeState} */ (enabled ? 'connecting' : 'closed'));
  const [connectionId, setConnectionId] = useState(/** @type {string | null} */ (null));
  const [lastMessage, setLastMessage] = useState(/** @type {WsBridgeMessage | null} */ (null));
  const [error, setError] = useState(/** @type {ErrorDetail | ChannelChangeError | null} */ (null));

  // The channels the current client was last told to hold.
  const applied = useRef(/** @type {string[]} */ ([]));
  const channelsKey = JSON.stringify(channels ?? []);
  const backoffKey = JSON.stringify(backoff ?? null);

  useEffect(() => {
    if (!enabled) {
      setState('closed');
      setConnectionId(null);
      setClient(null);
      return undefined;
    }
    const initial = /** @type {string[]} */ (JSON.parse(channelsKey));
    const instance = new WsBridgeClient({
      url,
      channels: initial,
      clientId,
      keepAliveMs,
      backoff: /** @type {import('./ws-bridge.js').BackoffOptions | undefined} */ (JSON.parse(backoffKey) ?? undefined),
      maxQueue,
      requestTimeoutMs,
      connectTimeoutMs,
      pongTimeoutMs,
      statusUrl,
      statusTimeoutMs,
      gapTimeoutMs,
      // Read when the client is made: a later change of positions does not reconnect.
      positions: latest.current.positions,
      WebSocket: WebSocketImpl,
      token: (context) => {
        const token = latest.current.token;
        return typeof token === 'function' ? token(context) : token;
      },
    });
    applied.current = initial;
    const sync = () => {
      setState(instance.state);
      setConnectionId(instance.connectionId);
    };
    const offs = [
      instance.on('connecting', sync),
      instance.on('open', () => {
        sync();
        setError(null);
      }),
      instance.on('reconnecting', sync),
      instance.on('closed', sync),
      instance.on('message', (message, meta) => {
        setLastMessage(message);
        latest.current.onMessage?.(message, meta);
      }),
      instance.on('reset', (reset) => latest.current.onReset?.(reset)),
      instance.on('unauthorized', (refusal) => latest.current.onUnauthorized?.(refusal)),
      instance.on('error', (detail) => {
        setError(detail);
        latest.current.onError?.(detail);
      }),
    ];
    setClient(instance);
    sync();
    return () => {
      // Listeners first: nothing may set state after unmount.
      for (const off of offs) off();
      instance.close();
    };
  }, [
    url,
    clientId,
    keepAliveMs,
    backoffKey,
    maxQueue,
    requestTimeoutMs,
    connectTimeoutMs,
    pongTimeoutMs,
    statusUrl,
    statusTimeoutMs,
    gapTimeoutMs,
    WebSocketImpl,
    enabled,
  ]);

  // Follow channel changes on the live client.
  useEffect(() => {
    if (client === null || client.state === 'closed') return;
    const wanted = /** @type {string[]} */ (JSON.parse(channelsKey));
    const added = wanted.filter((c) => !applied.current.includes(c));
    const removed = applied.current.filter((c) => !wanted.includes(c));
    applied.current = wanted;
    /** @param {unknown} reason */
    const report = (reason) => {
      if (client.state === 'closed') return;
      setError({ kind: 'subscribe', message: String(reason), error: reason });
      latest.current.onError?.({ kind: 'subscribe', message: String(reason), error: reason });
    };
    if (added.length > 0) client.subscribe(added).catch(report);
    if (removed.length > 0) client.unsubscribe(removed).catch(report);
  }, [client, channelsKey]);

  return { state, connectionId, client, lastMessage, error };
}

/**
 * The members of a presence channel (the gateway's PRESENCE_CHANNELS) that `client` holds, in
 * user order, re-rendered on every join, leave and fresh list (`[]` while `client` is null or
 * not in the channel). A reconnect of `client` within the gateway's grace period changes
 * nothing: its own user stays a member.
 * @param {WsBridgeClient | null} client e.g. `useWsBridge(...).client`
 * @param {string} channel
 * @returns {import('./ws-bridge.js').Member[]}
 */
export function usePresence(client, channel) {
  const [members, setMembers] = useState(
    /** @type {import('./ws-bridge.js').Member[]} */ (client === null ? [] : client.members(channel)),
  );
  useEffect(() => {
    if (client === null) {
      setMembers([]);
      return undefined;
    }
    setMembers(client.members(channel));
    return client.on('presence', (detail) => {
      if (detail.channel === channel) setMembers(detail.members);
    });
  }, [client, channel]);
  return members;
}
