// useWsBridge with real React (react-dom/client on a jsdom document, and react-dom/server),
// the client using `ws`, against a real local-gateway process.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JSDOM } from 'jsdom';
import WebSocket from 'ws';
import { httpJson, sleep, startGateway, waitFor } from './browser.mjs';

// react-dom/client needs a document; set it up before React and the hook load.
const dom = new JSDOM('<!doctype html><html><body><div id="root"></div></body></html>');
Object.assign(globalThis, { window: dom.window, document: dom.window.document });
if (!('navigator' in globalThis)) Object.assign(globalThis, { navigator: dom.window.navigator }); // Node 20
// The updates come from real sockets at any time, not from test actions: no act(), React's
// own scheduler renders them as in a browser.

const React = await import('react');
const { createRoot } = await import('react-dom/client');
const { renderToString } = await import('react-dom/server');
const { useWsBridge, WsBridgeProvider, useChannel, useWsBridgeContext } = await import('../src/react.js');
const { createElement: h } = React;

const FAST = { initialMs: 100, maxMs: 500 };

/** @param {string} httpUrl @param {string} [channel] */
async function count(httpUrl, channel) {
  const { body } = await httpJson('GET', `${httpUrl}/connections/count${channel ? `?channel=${channel}` : ''}`);
  return body.count;
}

/**
 * Mount <Probe {...props}/>, whose every render's hook result is kept in `renders`.
 * @param {import('node:test').TestContext} t
 */
function mount(t) {
  const container = document.createElement('div');
  document.body.append(container);
  const root = createRoot(container);
  /** @type {any[]} */
  const renders = [];
  /** @param {any} props */
  function Probe(props) {
    const result = useWsBridge(props);
    renders.push(result);
    return h('output', null, `${result.state} ${result.connectionId ?? '-'}`);
  }
  let mounted = true;
  const unmount = async () => {
    if (!mounted) return;
    mounted = false;
    root.unmount();
  };
  t.after(unmount);
  return {
    container,
    renders,
    latest: () => renders[renders.length - 1],
    /** @param {any} props */
    render: async (props) => {
      const before = renders.length;
      root.render(h(Probe, props));
      await waitFor(() => renders.length > before, { what: 'the render' });
    },
    unmount,
  };
}

/**
 * @param {() => boolean} check
 * @param {string} what
 */
const until = (check, what) => waitFor(check, { what, intervalMs: 20 });

describe('useWsBridge with React', () => {
  test('connects while mounted, follows channel changes without reconnecting, and never reconnects after unmount', async (t) => {
    const gateway = await startGateway();
    t.after(() => gateway.stop());
    let tokenCalls = 0;
    /** @type {unknown[]} */
    const firstHandler = [];
    /** @type {unknown[]} */
    const secondHandler = [];
    const view = mount(t);
    const props = {
      url: gateway.wsUrl,
      channels: ['news'],
      WebSocket,
      keepAliveMs: 0,
      backoff: FAST,
      token: () => {
        tokenCalls += 1;
        return null;
      },
      onMessage: (/** @type {unknown} */ m) => firstHandler.push(m),
    };
    await view.render(props);
    await until(() => view.latest().state === 'open', "state 'open'");
    const { connectionId, client } = view.latest();
    assert.match(connectionId, /^\S+$/);
    assert.equal(view.container.textContent, `open ${connectionId}`);
    assert.equal(await count(gateway.httpUrl, 'news'), 1);

    await httpJson('POST', `${gateway.httpUrl}/broadcast/news`, { type: 'one' });
    await until(() => view.latest().lastMessage?.type === 'one', 'lastMessage');
    assert.deepEqual(firstHandler, [{ type: 'one' }]);

    // New callback identities and a new token function: the same connection, the new handler.
    await view.render({
      ...props,
      token: () => {
        tokenCalls += 1;
        return null;
      },
      onMessage: (/** @type {unknown} */ m) => secondHandler.push(m),
      backoff: { ...FAST },
    });
    await httpJson('POST', `${gateway.httpUrl}/broadcast/news`, { type: 'two' });
    await until(() => view.latest().lastMessage?.type === 'two', 'the second message');
    assert.deepEqual(firstHandler, [{ type: 'one' }]);
    assert.deepEqual(secondHandler, [{ type: 'two' }]);
    assert.equal(view.latest().connectionId, connectionId);
    assert.equal(view.latest().client, client);
    assert.equal(tokenCalls, 1);

    // Channels change: subscribe/unsubscribe on the live connection.
    await view.render({ ...props, channels: ['sports'] });
    await waitFor(async () => (await count(gateway.httpUrl, 'sports')) === 1, { what: 'sports subscribed' });
    await waitFor(async () => (await count(gateway.httpUrl, 'news')) === 0, { what: 'news unsubscribed' });
    assert.equal(view.latest().connectionId, connectionId);
    assert.equal(tokenCalls, 1);

    await view.unmount();
    assert.equal(client.state, 'closed');
    await waitFor(async () => (await count(gateway.httpUrl)) === 0, { what: 'the connection to close' });
    await sleep(1_500); // three times the backoff cap
    assert.equal(await count(gateway.httpUrl), 0, 'nothing reconnected after unmount');
    assert.equal(tokenCalls, 1);
  });

  test('unmounted while reconnecting: no connection once the gateway is back', async (t) => {
    const gateway = await startGateway();
    t.after(() => gateway.stop());
    let tokenCalls = 0;
    const view = mount(t);
    await view.render({
      url: gateway.wsUrl,
      channels: ['news'],
      WebSocket,
      keepAliveMs: 0,
      backoff: FAST,
      token: () => {
        tokenCalls += 1;
        return null;
      },
    });
    await until(() => view.latest().state === 'open', "state 'open'");
    const { client } = view.latest();

    await gateway.stop();
    await until(() => view.latest().state === 'reconnecting', "state 'reconnecting'");
    assert.equal(view.latest().connectionId, null);
    await view.unmount();
    const callsAtUnmount = tokenCalls;
    await gateway.start();
    await sleep(1_500);
    assert.equal(client.state, 'closed');
    assert.equal(await count(gateway.httpUrl), 0, 'nothing reconnected after unmount');
    assert.equal(tokenCalls, callsAtUnmount);
  });

  test('rendered on the server: no connection is made', async (t) => {
    const gateway = await startGateway();
    t.after(() => gateway.stop());
    let tokenCalls = 0;
    function Page() {
      const { state } = useWsBridge({
        url: gateway.wsUrl,
        WebSocket,
        token: () => {
          tokenCalls += 1;
          return null;
        },
      });
      return h('p', null, state);
    }
    assert.equal(renderToString(h(Page)), '<p>connecting</p>');
    await sleep(300);
    assert.equal(tokenCalls, 0);
    assert.equal(await count(gateway.httpUrl), 0);
  });
  test('on a channel with history: positions in, onReset, onMessage with the metadata', async (t) => {
    const gateway = await startGateway({ args: ['--history-channels', 'post:*'] });
    t.after(() => gateway.stop());
    await httpJson('POST', `${gateway.httpUrl}/broadcast/post:1`, { type: 'n', n: 0 });
    /** @type {any[]} */
    const seen = [];
    const view = mount(t);
    await view.render({
      url: gateway.wsUrl,
      channels: ['post:1'],
      WebSocket,
      keepAliveMs: 0,
      backoff: FAST,
      // A position of another numbering (saved before a gateway restart, say): reset.
      positions: { 'post:1': { seq: 7, epoch: 'gone' } },
      gapTimeoutMs: 200,
      onReset: (/** @type {any} */ reset) => seen.push(['reset', reset.reason, reset.seq]),
      onMessage: (/** @type {any} */ message, /** @type {any} */ meta) => seen.push([message.n, meta?.seq]),
    });
    await until(() => view.latest().state === 'open', "state 'open'");
    await httpJson('POST', `${gateway.httpUrl}/broadcast/post:1`, { type: 'n', n: 1 });
    await until(() => seen.length === 2, 'the reset and the message');
    assert.deepEqual(seen, [
      ['reset', 'epoch changed', 1],
      [1, 2],
    ]);
    await until(() => view.latest().lastMessage?.n === 1, 'lastMessage');
    assert.deepEqual(view.latest().lastMessage, { type: 'n', n: 1 });
    assert.equal(view.latest().client.positions['post:1'].seq, 2);
  });
});

describe('WsBridgeProvider and useChannel', () => {
  test('rendered on the server: children render, nothing touches WebSocket', async () => {
    class NoWebSocket {
      constructor() {
        throw new Error('WebSocket used during server rendering');
      }
    }
    function Updates() {
      const { state } = useChannel('updates', { onMessage: () => {} });
      return h('p', null, state);
    }
    const html = renderToString(
      h(WsBridgeProvider, { url: 'ws://127.0.0.1:9/dev', WebSocket: NoWebSocket }, h(Updates)),
    );
    assert.equal(html, '<p>connecting</p>');
    await sleep(50);
  });

  test('pages navigated between under one provider share one connection; a channel is held while a page holding it is mounted', async (t) => {
    const gateway = await startGateway();
    t.after(() => gateway.stop());
    /** @type {{ page: string, message: unknown }[]} */
    const heard = [];
    /** @type {any} */
    let context = null;
    /** @param {{ name: string }} props */
    function NewsPage({ name }) {
      const { state, subscribed } = useChannel('news', { onMessage: (message) => heard.push({ page: name, message }) });
      return h('p', null, `${name} ${state}${subscribed ? ' subscribed' : ''}`);
    }
    function OtherPage() {
      context = useWsBridgeContext();
      return h('p', null, 'other');
    }
    /** @param {{ page: string }} props */
    function App({ page }) {
      return h(
        WsBridgeProvider,
        { url: gateway.wsUrl, WebSocket, keepAliveMs: 0, backoff: FAST },
        page === 'news' ? h('div', null, h(NewsPage, { name: 'a' }), h(NewsPage, { name: 'b' })) : h(OtherPage),
      );
    }
    const container = document.createElement('div');
    document.body.append(container);
    const root = createRoot(container);
    t.after(() => root.unmount());

    root.render(h(App, { page: 'news' }));
    await until(() => container.textContent === 'a open subscribedb open subscribed', 'both pages subscribed');
    assert.equal(await count(gateway.httpUrl, 'news'), 1, 'one subscriber of news');
    await httpJson('POST', `${gateway.httpUrl}/broadcast/news`, { type: 'first' });
    await until(() => heard.length === 2, 'both hooks hear the message');
    assert.deepEqual(heard.map((e) => e.page).sort(), ['a', 'b']);

    // Away: the channel is left, the connection stays.
    root.render(h(App, { page: 'other' }));
    await until(() => context !== null && context.state === 'open', 'the other page');
    const { client } = context;
    await waitFor(async () => (await count(gateway.httpUrl, 'news')) === 0, { what: 'news left' });
    assert.equal(await count(gateway.httpUrl), 1);

    // And back: the same connection holds the channel again.
    root.render(h(App, { page: 'news' }));
    await until(() => container.textContent === 'a open subscribedb open subscribed', 'subscribed again');
    assert.equal(await count(gateway.httpUrl, 'news'), 1, 'news held again');
    assert.equal(await count(gateway.httpUrl), 1);
    heard.length = 0;
    await httpJson('POST', `${gateway.httpUrl}/broadcast/news`, { type: 'second' });
    await until(() => heard.length === 2, 'the remounted hooks hear the message');
    root.render(h(App, { page: 'other' }));
    await until(() => container.textContent === 'other', 'the other page again');
    assert.equal(context.client, client, 'one client for the lifetime of the provider');
  });
});
