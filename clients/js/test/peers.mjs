// Test helpers of the publisher's suites: a WebSocket peer that records what it receives, and the
// error a call rejects with.

import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { sleep, waitFor } from './browser.mjs';

/**
 * A WebSocket client that records what it receives; closed after the test.
 * @param {import('node:test').TestContext} t
 * @param {string} wsUrl
 * @param {{ channels?: string[], token?: string }} [options]
 */
export async function peer(t, wsUrl, { channels = [], token } = {}) {
  const socket = new WebSocket(token === undefined ? wsUrl : `${wsUrl}?token=${token}`);
  /** @type {any[]} */
  const frames = [];
  socket.on('message', (data) => frames.push(JSON.parse(String(data))));
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  t.after(() => socket.terminate());
  /** @param {(frame: any) => boolean} predicate @param {string} what */
  const next = (predicate, what) =>
    waitFor(() => frames.find(predicate), { what, timeoutMs: 10_000 }).then((frame) => {
      frames.splice(frames.indexOf(frame), 1);
      return frame;
    });
  socket.send('{"action":"hello"}');
  const welcome = await next((f) => f.type === 'welcome', 'welcome');
  if (channels.length > 0) {
    socket.send(JSON.stringify({ action: 'subscribe', channels }));
    await next((f) => f.type === 'subscribed', 'subscribed');
  }
  return {
    socket,
    connectionId: /** @type {string} */ (welcome.data.connectionId),
    /** The next frame that is not a reply. */
    next: () => next(() => true, 'a message'),
    /** @param {number} ms */
    nothingWithin: async (ms) => {
      await sleep(ms);
      assert.deepEqual(frames, [], 'nothing more was delivered');
    },
    close: () =>
      new Promise((resolve) => {
        socket.once('close', resolve);
        socket.close();
      }),
  };
}

/**
 * The error `call` rejects with, checked to be a `kind`.
 * @template {new (...args: any[]) => Error} K
 * @param {() => Promise<unknown>} call
 * @param {K} kind
 * @returns {Promise<InstanceType<K>>}
 */
export async function rejectsWith(call, kind) {
  /** @type {unknown} */
  let caught = null;
  try {
    await call();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof kind, `expected ${kind.name}, got ${caught}`);
  return /** @type {InstanceType<K>} */ (caught);
}
