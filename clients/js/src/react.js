'use client';
// React bindings of WsBridgeClient: `useWsBridge` (one connection per component), and for apps
// with client-side navigation (Next.js App Router, React Router) `WsBridgeProvider`, one
// connection per provider that pages share, with `useChannel` to listen to a channel from any
// component under it, and `usePresence` for a presence channel's members. A client module ('use
// client'): importable where the tree is rendered on a server, as nothing touches WebSocket
// before an effect runs, that is, in the browser after mount.
//
// SPDX-License-Identifier: MIT OR Apache-2.0

import { createContext, createElement, useContext, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { WsBridgeClient } from './ws-bridge.js';

/** @typedef {import('./ws-bridge.js').WsBridgeState} WsBridgeState */
/** @typedef {import('./ws-bridge.js').WsBridgeMessage} WsBridgeMessage */
/** @typedef {import('./ws-bridge.js').ErrorDetail} ErrorDetail */

/** @typedef {{ kind: 'subscribe', message: string, error: unknown }} ChannelChangeError a refused channel change */

/**
 * @template [M=WsBridgeMessage]
 * @typedef {object} UseWsBridgeHookOptions what the hook adds to the client's options; `M` is the
 *   type of the application's messages (the server does not check it: it is what the backend
 *   publishes)
 * @property {string} url the gateway's WebSocket URL; changing it makes a new connection
 * @property {string[]} [channels] channels to hold; a change subscribes/unsubscribes on the live
 *   connection (no reconnect)
 * @property {import('./ws-bridge.js').TokenOption} [token] token or provider, read through a ref:
 *   passing a new function does not reconnect
 * @property {string} [tokenUrl] instead of `token`: a URL of the app (e.g. a Next.js route
 *   handler, `/api/ws-token`) answering `{"token": "…"}`, fetched before every handshake (same
 *   origin cookies, no cache); a 401 or 403 answer means no user (the client stops after a
 *   refused handshake)
 * @property {boolean} [enabled] false: no connection (default true)
 * @property {(message: M, meta: import('./ws-bridge.js').MessageMeta | null) => void} [onMessage]
 *   called for every message that reaches 'message' listeners (meta: see MessageMeta); read through a ref
 * @property {(reset: import('./ws-bridge.js').ResetDetail) => void} [onReset] called for every
 *   'reset' of a channel with history (reload what it shows); read through a ref
 * @property {(error: ErrorDetail | ChannelChangeError) => void} [onError] called for 'error'
 *   events and for refused channel changes; read through a ref
 * @property {(refusal: import('./ws-bridge.js').UnauthorizedDetail) => void} [onUnauthorized]
 *   called for every 'unauthorized' event (the gateway refused the token); read through a ref
 */

/**
 * @template [M=WsBridgeMessage]
 * @typedef {Omit<import('./ws-bridge.js').WsBridgeOptions, 'url' | 'channels' | 'token'> & UseWsBridgeHookOptions<M>} UseWsBridgeOptions
 *   the client's options, with what changing each one does in a component; `positions` is read
 *   when a client is made (a change does not reconnect)
 */

/**
 * @template [M=WsBridgeMessage]
 * @typedef {object} UseWsBridgeResult
 * @property {WsBridgeState} state
 * @property {string | null} connectionId
 * @property {WsBridgeClient | null} client the live client (null before the first effect ran, or when disabled)
 * @property {M | null} lastMessage the last message that reached 'message' listeners, or null
 * @property {ErrorDetail | ChannelChangeError | null} error the last error, cleared when a connection opens
 */

/**
 * A token provider fetching `{"token"}` from the app's own route.
 * @param {string} tokenUrl
 * @returns {(context: import('./ws-bridge.js').TokenContext) => Promise<string | null>}
 */
function tokenFrom(tokenUrl) {
  return async ({ reason }) => {
    const url = new URL(tokenUrl, globalThis.location?.href ?? 'http://localhost/');
    url.searchParams.set('reason', reason);
    const response = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
    // The app says there is no user: no token (after a refusal, the client stops).
    if (response.status === 401 || response.status === 403) return null;
    if (!response.ok) throw new Error(`${tokenUrl} answered HTTP ${response.status}`);
    const body = await response.json();
    return typeof body?.token === 'string' ? body.token : null;
  };
}

// useLayoutEffect keeps the refs current before any event can fire; on a server it would
// warn in older React versions, and nothing fires there anyway.
const useIsomorphicLayoutEffect = typeof document !== 'undefined' ? useLayoutEffect : useEffect;

/**
 * Connect while mounted: `{ state, connectionId, client, lastMessage, error }`.
 * The client is created after mount and closed on unmount (it never reconnects after that).
 * A new client is made only when url, clientId, WebSocket, enabled, statusUrl or one of the
 * numeric options (keepAliveMs, backoff, maxQueue and the timeouts, gapTimeoutMs) change.
 * @template [M=WsBridgeMessage] the application's messages
 * @param {UseWsBridgeOptions<M>} options
 * @returns {UseWsBridgeResult<M>}
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
  const [lastMessage, setLastMessage] = useState(/** @type {M | null} */ (null));
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
        const { token, tokenUrl } = latest.current;
        if (token === undefined && typeof tokenUrl === 'string') return tokenFrom(tokenUrl)(context);
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
        // The server does not type messages: M is the application's word for what it publishes.
        const typed = /** @type {M} */ (/** @type {unknown} */ (message));
        setLastMessage(typed);
        latest.current.onMessage?.(typed, meta);
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

// ------------------------------------------------------------- one connection, shared by pages

/**
 * @typedef {object} WsBridgeContextValue what WsBridgeProvider shares
 * @property {WsBridgeClient | null} client null on the server and before the provider mounted
 * @property {WsBridgeState} state
 * @property {string | null} connectionId
 * @property {ErrorDetail | ChannelChangeError | null} error
 * @property {Map<string, ChannelHold>} holders the channels mounted useChannel hooks hold
 * @property {string[]} pinned the provider's own `channels`, never left by useChannel
 */

/**
 * @typedef {object} ChannelHold a channel held by useChannel hooks
 * @property {number} count how many mounted hooks hold it
 * @property {Promise<unknown>} ready its subscribe, answered
 */

const WsBridgeContext = createContext(/** @type {WsBridgeContextValue | null} */ (null));

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
export function WsBridgeProvider({ children, ...options }) {
  const { client, state, connectionId, error } = useWsBridge(options);
  const holders = useRef(/** @type {Map<string, ChannelHold>} */ (new Map()));
  const pinnedKey = JSON.stringify(options.channels ?? []);
  const pinned = useRef({ key: pinnedKey, channels: options.channels ?? [] });
  if (pinned.current.key !== pinnedKey) pinned.current = { key: pinnedKey, channels: options.channels ?? [] };
  const value = useMemoValue({
    client,
    state,
    connectionId,
    error,
    holders: holders.current,
    pinned: pinned.current.channels,
  });
  return createElement(WsBridgeContext.Provider, { value }, children);
}

/**
 * The same object while its fields are the same (so consumers do not re-render for nothing).
 * @param {WsBridgeContextValue} value
 * @returns {WsBridgeContextValue}
 */
function useMemoValue(value) {
  const kept = useRef(value);
  const old = kept.current;
  if (
    old.client !== value.client ||
    old.state !== value.state ||
    old.connectionId !== value.connectionId ||
    old.error !== value.error ||
    old.pinned !== value.pinned
  ) {
    kept.current = value;
  }
  return kept.current;
}

/**
 * The provider's connection: `{ client, state, connectionId, error }`. Throws outside a
 * WsBridgeProvider.
 * @returns {WsBridgeContextValue}
 */
export function useWsBridgeContext() {
  const value = useContext(WsBridgeContext);
  if (value === null) throw new Error('useWsBridgeContext/useChannel: no <WsBridgeProvider> above this component');
  return value;
}

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
export function useChannel(channel, options = {}) {
  const { client, state, connectionId, holders, pinned } = useWsBridgeContext();
  const latest = useRef(options);
  useIsomorphicLayoutEffect(() => {
    latest.current = options;
  });
  const enabled = options.enabled ?? true;
  const [ready, setReady] = useState(false);

  useEffect(() => {
    if (client === null || !enabled) return undefined;
    let hold = holders.get(channel);
    if (hold === undefined) {
      // The provider's own channels are subscribed at every handshake, before 'open'.
      const held = pinned.includes(channel) || client.channels.includes(channel);
      /** @type {Promise<unknown>} */
      let ready;
      try {
        ready = held ? Promise.resolve() : client.subscribe(channel);
      } catch (error) {
        ready = Promise.reject(error); // not a channel name
      }
      hold = { count: 0, ready };
      holders.set(channel, hold);
    }
    hold.count += 1;
    let mounted = true;
    hold.ready.then(
      () => mounted && setReady(true),
      () => {
        // Refused or the client closed: not subscribed (the provider's `error` says why).
      },
    );
    const offs = [
      client.on('message', (message, meta) => {
        if (meta !== null && meta.channel !== channel) return;
        latest.current.onMessage?.(/** @type {M} */ (/** @type {unknown} */ (message)), meta);
      }),
      client.on('reset', (reset) => {
        if (reset.channel === channel) latest.current.onReset?.(reset);
      }),
    ];
    const mine = hold;
    return () => {
      mounted = false;
      setReady(false);
      for (const off of offs) off();
      mine.count -= 1;
      if (mine.count > 0 || holders.get(channel) !== mine) return;
      holders.delete(channel);
      if (client.state !== 'closed' && !pinned.includes(channel)) client.unsubscribe(channel).catch(() => {});
    };
  }, [client, channel, enabled, holders, pinned]);

  return { state, connectionId, subscribed: ready && state === 'open' };
}

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
export function usePresence(channel, client) {
  const provided = useContext(WsBridgeContext);
  const source = client === undefined ? (provided?.client ?? null) : client;
  const [members, setMembers] = useState(
    /** @type {import('./ws-bridge.js').Member[]} */ (source === null ? [] : source.members(channel)),
  );
  useEffect(() => {
    if (source === null) {
      setMembers([]);
      return undefined;
    }
    setMembers(source.members(channel));
    return source.on('presence', (detail) => {
      if (detail.channel === channel) setMembers(detail.members);
    });
  }, [source, channel]);
  return members;
}
