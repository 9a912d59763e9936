// Presence with WsBridgeClient (Node, `ws`) and usePresence (real React on a jsdom document),
// against a real local-gateway process: the member list, joins and leaves, ephemeral publishes,
// and a reconnect within the grace period that nobody sees.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JSDOM } from 'jsdom';
import WebSocket from 'ws';
import { WsBridgeClient } from '../src/ws-bridge.js';
import { httpJson, sleep, startGateway, waitFor } from './browser.mjs';
import { mintToken } from './jwt.mjs';

// react-dom/client needs a document; set it up before React and the hook load.
const dom = new JSDOM('<!doctype html><html><body></body></html>');
Object.assign(globalThis, { window: dom.window, document: dom.window.document });
if (!('navigator' in globalThis)) Object.assign(globalThis, { navigator: dom.window.navigator }); // Node 20
const React = await import('react');
const { createRoot } = await import('react-dom/client');
const { usePresence, WsBridgeProvider } = await import('../src/react.js');

const SECRET = 'presence-test-secret';
const ROOM = 'room:1';
const GRACE_S = 2;

/** @param {import('node:test').TestContext} t */
async function presenceGateway(t) {
  const gateway = await startGateway({
    env: {
      JWT_SECRET: SECRET,
      JWT_CLAIMS: 'name',
      PRESENCE_CHANNELS: 'room:*',
      PRESENCE_LEAVE_GRACE_SECONDS: String(GRACE_S),
      PRESENCE_INFO_CLAIM: 'name',
      CLIENT_PUBLISH: 'true',
    },
  });
  t.after(() => gateway.stop());
  return gateway;
}

/**
 * An open client of `user` in the room, whose messages are recorded.
 * @param {import('node:test').TestContext} t
 * @param {{ wsUrl: string }} gateway
 * @param {string} user
 */
async function member(t, gateway, user) {
  const client = new WsBridgeClient({
    url: gateway.wsUrl,
    WebSocket,
    keepAliveMs: 0,
    backoff: { initialMs: 50, maxMs: 300 },
    channels: [ROOM],
    token: () => mintToken(SECRET, { sub: user, name: `Name of ${user}` }),
  });
  /** @type {any[]} */
  const messages = [];
  client.on('message', (message) => messages.push(message));
  t.after(() => client.close());
  await waitFor(() => client.state === 'open', { what: `${user} open` });
  return { client, messages };
}

/** @param {WsBridgeClient} client */
const users = (client) => client.members(ROOM).map((m) => m.user);

/** @param {any[]} messages @param {string} type */
const presenceOf = (messages, type) => messages.filter((m) => m?.type === type);

describe('presence', () => {
  test('members, joins and leaves, the presence event, and ephemeral publishes', async (t) => {
    const gateway = await presenceGateway(t);
    const bob = await member(t, gateway, 'bob');
    assert.deepEqual(users(bob.client), ['bob']);
    /** @type {string[][]} */
    const lists = [];
    bob.client.on('presence', (detail) => lists.push(detail.members.map((m) => m.user)));

    const ada = await member(t, gateway, 'ada');
    assert.deepEqual(users(ada.client), ['ada', 'bob']);
    await waitFor(() => users(bob.client).includes('ada'), { what: 'bob sees ada join' });
    assert.deepEqual(bob.client.members(ROOM)[0].info, { name: 'Name of ada' });
    assert.deepEqual(lists.at(-1), ['ada', 'bob']);
    assert.equal(presenceOf(bob.messages, 'presence.join').length, 1);
    assert.deepEqual(
      (await bob.client.presence(ROOM)).map((m) => m.user),
      ['ada', 'bob'],
    );

    const published = await ada.client.publish(ROOM, { typing: true }, { ephemeral: true });
    assert.equal(published.sent, 1);
    await waitFor(() => bob.messages.some((m) => m?.ephemeral === true), { what: 'the typing indicator' });
    assert.deepEqual(
      bob.messages.find((m) => m?.ephemeral === true),
      { type: 'message', channel: ROOM, data: { typing: true }, ephemeral: true },
    );

    ada.client.close();
    await waitFor(() => !users(bob.client).includes('ada'), {
      what: 'bob sees ada leave',
      timeoutMs: (GRACE_S + 5) * 1000,
    });
    assert.deepEqual(presenceOf(bob.messages, 'presence.leave'), [
      { type: 'presence.leave', channel: ROOM, data: { user: 'ada' } },
    ]);
    assert.deepEqual(lists.at(-1), ['bob']);
  });

  test('a reconnect within the grace period shows no leave or join, to others or itself', async (t) => {
    const gateway = await presenceGateway(t);
    const bob = await member(t, gateway, 'bob');
    const ada = await member(t, gateway, 'ada');
    await waitFor(() => users(bob.client).includes('ada'), { what: 'bob sees ada join' });
    const first = ada.client.connectionId;
    await httpJson('DELETE', `${gateway.httpUrl}/@connections/${encodeURIComponent(String(first))}`);
    await waitFor(() => ada.client.state === 'open' && ada.client.connectionId !== first, {
      what: 'ada reconnected',
    });
    await sleep((GRACE_S + 1.5) * 1000);
    assert.deepEqual(presenceOf(bob.messages, 'presence.leave'), []);
    assert.equal(presenceOf(bob.messages, 'presence.join').length, 1);
    assert.deepEqual(presenceOf(ada.messages, 'presence.leave'), []);
    assert.deepEqual(presenceOf(ada.messages, 'presence.join'), []);
    assert.deepEqual(users(bob.client), ['ada', 'bob']);
    assert.deepEqual(users(ada.client), ['ada', 'bob']);
  });

  test('usePresence under a WsBridgeProvider reads the provider connection', async (t) => {
    const gateway = await presenceGateway(t);
    const container = document.createElement('div');
    document.body.append(container);
    const root = createRoot(container);
    t.after(() => root.unmount());
    function Viewers() {
      return React.createElement(
        'output',
        null,
        usePresence(ROOM)
          .map((m) => m.user)
          .join(', '),
      );
    }
    root.render(
      React.createElement(
        WsBridgeProvider,
        {
          url: gateway.wsUrl,
          WebSocket,
          keepAliveMs: 0,
          channels: [ROOM],
          token: () => mintToken(SECRET, { sub: 'carol', name: 'Carol' }),
        },
        React.createElement(Viewers),
      ),
    );
    await waitFor(() => container.textContent === 'carol', { what: 'carol alone' });
    const ada = await member(t, gateway, 'ada');
    await waitFor(() => container.textContent === 'ada, carol', { what: 'ada shown' });
    ada.client.close();
    await waitFor(() => container.textContent === 'carol', {
      what: 'ada gone after the grace period',
      timeoutMs: (GRACE_S + 5) * 1000,
    });
  });

  test('usePresence renders the members as they join and leave', async (t) => {
    const gateway = await presenceGateway(t);
    const bob = await member(t, gateway, 'bob');
    const container = document.createElement('div');
    document.body.append(container);
    const root = createRoot(container);
    t.after(() => root.unmount());
    /** @param {{ client: WsBridgeClient }} props */
    function Viewers({ client }) {
      const members = usePresence(ROOM, client);
      return React.createElement('output', null, members.map((m) => m.info?.name ?? m.user).join(', '));
    }
    root.render(React.createElement(Viewers, { client: bob.client }));
    await waitFor(() => container.textContent === 'Name of bob', { what: 'bob alone' });
    const ada = await member(t, gateway, 'ada');
    await waitFor(() => container.textContent === 'Name of ada, Name of bob', { what: 'ada shown' });
    ada.client.close();
    await waitFor(() => container.textContent === 'Name of bob', {
      what: 'ada gone after the grace period',
      timeoutMs: (GRACE_S + 5) * 1000,
    });
  });
});
