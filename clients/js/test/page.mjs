// Drives WsBridgeClient instances inside a Chromium page: the page imports /src/ws-bridge.js
// from the test's static server, and every event of every client is logged in `window.wsLog`.

/**
 * @typedef {{ name: string, type: string, detail: any, state: string, connectionId: string | null, at: number }} LoggedEvent
 */

/**
 * Create a client named `name` in the page. `tokenPath`: a path of the static server
 * answering `{"token": "..."}`, fetched before every handshake (as a real page fetches
 * its backend); omitted → no token.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @param {Record<string, unknown>} options WsBridgeClient options (JSON-serialisable)
 * @param {{ tokenPath?: string }} [extra]
 */
export async function openClient(page, name, options, { tokenPath } = {}) {
  await page.evaluate(
    async ({ name, options, tokenPath }) => {
      const modulePath = '/src/ws-bridge.js'; // served by the test's static server
      const { WsBridgeClient } = await import(modulePath);
      const w = /** @type {any} */ (window);
      w.wsLog ??= [];
      w.clients ??= {};
      /** @type {any} */
      const opts = { ...options };
      if (tokenPath) {
        opts.token = async (/** @type {{ reason: string }} */ context) => {
          const response = await fetch(`${tokenPath}?reason=${context.reason}`, { cache: 'no-store' });
          if (!response.ok) throw new Error(`token endpoint answered ${response.status}`);
          return (await response.json()).token;
        };
      }
      const client = new WsBridgeClient(opts);
      w.clients[name] = client;
      /** @param {string} _key @param {unknown} value */
      const plain = (_key, value) =>
        value instanceof Error ? { ...value, name: value.name, message: value.message } : value;
      for (const type of ['connecting', 'open', 'reconnecting', 'closed', 'error', 'message', 'unauthorized']) {
        client.on(type, (/** @type {unknown} */ detail) => {
          w.wsLog.push({
            name,
            type,
            detail: JSON.parse(JSON.stringify(detail ?? null, plain)),
            state: client.state,
            connectionId: client.connectionId,
            at: Date.now(),
          });
        });
      }
    },
    { name, options, tokenPath },
  );
}

/**
 * The events logged for client `name` (all types, or one).
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @param {string} [type]
 * @returns {Promise<LoggedEvent[]>}
 */
export async function events(page, name, type) {
  const all = /** @type {LoggedEvent[]} */ (await page.evaluate(() => /** @type {any} */ (window).wsLog ?? []));
  return all.filter((e) => e.name === name && (type === undefined || e.type === type));
}

/**
 * Run `fn(client, arg)` in the page against client `name`; returns its (JSON) result.
 * @template T
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @param {string} body the body of an async function of (client, arg)
 * @param {unknown} [arg]
 * @returns {Promise<T>}
 */
export function inPage(page, name, body, arg) {
  return page.evaluate(
    async ({ name, body, arg }) => {
      const client = /** @type {any} */ (window).clients[name];
      // eslint-disable-next-line no-new-func
      const fn = new Function('client', 'arg', `return (async () => { ${body} })();`);
      return fn(client, arg);
    },
    { name, body, arg },
  );
}
