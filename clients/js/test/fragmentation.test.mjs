// Checklist item 60 in the browser: data over 32 KB posted to a connection goes out as a
// fragmented message (frames of at most 32 KB, as API Gateway sends it). Chromium's WebSocket and
// WsBridgeClient must get it whole: a ~100 KB message whose frame boundaries each fall inside a
// 4-byte UTF-8 character (a character split across two frames), and a message of that size on a
// channel with history, in sequence between two small ones.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { httpJson, launchChromium, startGateway, startStaticServer, waitFor } from './browser.mjs';

/** API Gateway's frame size: larger data is sent in frames of this many bytes. */
const FRAME = 32 * 1024;
/** 4 bytes in UTF-8, a surrogate pair in JavaScript. */
const WIDE = '😀';
const WIDE_CHARS = 25_000;

/** @type {import('playwright-core').Browser} */
let browser;
/** @type {Awaited<ReturnType<typeof startStaticServer>>} */
let site;

before(async () => {
  site = await startStaticServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await site?.close();
});

/**
 * `{"type": type, "text": …}` as JSON text of about 100 KB: ASCII padding, then 4-byte
 * characters placed so that every 32 KB boundary of the text cuts one in the middle.
 * @param {string} type
 */
function bigMessage(type) {
  const head = Buffer.byteLength(`{"type":${JSON.stringify(type)},"text":"`);
  // Boundaries are multiples of FRAME (itself a multiple of 4): two bytes into a character.
  const pad = (((FRAME - head - 2) % 4) + 4) % 4;
  const text = 'a'.repeat(pad) + WIDE.repeat(WIDE_CHARS);
  const json = JSON.stringify({ type, text });
  const bytes = Buffer.from(json);
  for (let boundary = FRAME; boundary < bytes.length; boundary += FRAME) {
    // A continuation byte (10xxxxxx) on each side: the boundary is inside a character.
    assert.equal(bytes[boundary - 1] & 0xc0, 0x80, `byte ${boundary - 1}`);
    assert.equal(bytes[boundary] & 0xc0, 0x80, `byte ${boundary}`);
  }
  assert.ok(bytes.length > 3 * FRAME, `${bytes.length} bytes: four frames`);
  return { json, text };
}

/**
 * A WsBridgeClient in a fresh page, logging every message with its meta; and the texts of the
 * messages Chromium received on its socket.
 * @param {import('node:test').TestContext} t
 * @param {Record<string, unknown>} options JSON-serialisable
 */
async function pageClient(t, options) {
  const context = await browser.newContext();
  const page = await context.newPage();
  /** @type {string[]} */
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  /** @type {string[]} */
  const received = [];
  page.on('websocket', (socket) => socket.on('framereceived', ({ payload }) => received.push(String(payload))));
  t.after(async () => {
    await context.close();
    assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
  });
  await page.goto(`${site.url}/`);
  await page.evaluate(async (options) => {
    const modulePath = '/src/ws-bridge.js';
    const { WsBridgeClient } = await import(modulePath);
    const w = /** @type {any} */ (window);
    w.log = [];
    const client = new WsBridgeClient({ keepAliveMs: 0, ...options });
    client.on('message', (/** @type {any} */ data, /** @type {any} */ meta) => w.log.push({ data, meta }));
    w.client = client;
    await new Promise((resolve) => client.on('open', resolve));
  }, options);
  return {
    received,
    /** @returns {Promise<{ data: any, meta: any }[]>} */
    log: () => page.evaluate(() => /** @type {any} */ (window).log),
    /** @returns {Promise<string>} */
    connectionId: () => page.evaluate(() => /** @type {any} */ (window).client.connectionId),
  };
}

test('a ~100 KB message posted to a connection arrives whole, characters split across frames included', async (t) => {
  const gateway = await startGateway();
  t.after(() => gateway.stop());
  const client = await pageClient(t, { url: gateway.wsUrl });
  const { json, text } = bigMessage('big');
  // PostToConnection sends the data as it is: the boundaries are where bigMessage put them.
  const id = await client.connectionId();
  const posted = await fetch(`${gateway.httpUrl}/@connections/${encodeURIComponent(id)}`, {
    method: 'POST',
    body: json,
  });
  assert.equal(posted.status, 200, await posted.text());
  const [message] = await waitFor(
    async () => {
      const log = await client.log();
      return log.length > 0 ? log : null;
    },
    { what: 'the big message' },
  );
  assert.equal(message.data.type, 'big');
  assert.equal(message.data.text.length, text.length);
  assert.ok(message.data.text === text, 'the text arrived unchanged');
  assert.ok(
    client.received.some((payload) => payload === json),
    'Chromium received the exact text, one message',
  );
});

test('a ~100 KB message on a channel with history is sequenced between two small ones', async (t) => {
  const gateway = await startGateway({ args: ['--history-channels', 'post:*'] });
  t.after(() => gateway.stop());
  const channel = 'post:big';
  const client = await pageClient(t, { url: gateway.wsUrl, channels: [channel] });
  const { text } = bigMessage('big');
  for (const body of [
    { type: 'small', n: 1 },
    { type: 'big', text },
    { type: 'small', n: 2 },
  ]) {
    const { status, body: report } = await httpJson('POST', `${gateway.httpUrl}/broadcast/${channel}`, body);
    assert.equal(status, 200, JSON.stringify(report).slice(0, 500));
    assert.equal(report.sent, 1, JSON.stringify(report));
  }
  const log = await waitFor(
    async () => {
      const log = await client.log();
      return log.length >= 3 ? log : null;
    },
    { what: 'three messages' },
  );
  assert.equal(log.length, 3);
  assert.deepEqual(
    log.map(({ data }) => data.type),
    ['small', 'big', 'small'],
  );
  assert.deepEqual(log[0].data, { type: 'small', n: 1 });
  assert.ok(log[1].data.text === text, 'the big text arrived unchanged');
  assert.deepEqual(log[2].data, { type: 'small', n: 2 });
  const first = log[0].meta.seq;
  assert.deepEqual(
    log.map(({ meta }) => [meta.channel, meta.seq, meta.replayed]),
    [0, 1, 2].map((n) => [channel, first + n, false]),
  );
  // One numbering ('' until the client has learnt the channel's epoch).
  const epochs = new Set(log.map(({ meta }) => meta.epoch).filter((epoch) => epoch !== ''));
  assert.ok(epochs.size <= 1, JSON.stringify([...epochs]));
});
