// Test helpers shared by this package's tests and the example's browser test:
// a real `local-gateway` process on a free 127.0.0.1 port, a headless Chromium
// (Debian's /usr/bin/chromium through playwright-core), and a tiny static HTTP server.
//
//   import { startGateway, launchChromium, startStaticServer } from '<repo>/clients/js/test/browser.mjs';
//
// Everything started here is killed by PID when the test process exits, even after a failure.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import net from 'node:net';
import { dirname, extname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
/** The package folder (clients/js) and the repository root. */
export const packageRoot = resolve(here, '..');
export const repoRoot = resolve(packageRoot, '..', '..');

/** The HTTP API's token of `make run` (`ApiToken` in infra/run.args), which the gateways here use. */
export const apiToken = (readFileSync(join(repoRoot, 'infra', 'run.args'), 'utf8').match(/^ApiToken=(.*)$/m) ?? [])[1];

export const CHROMIUM_PATH = process.env.WS_BRIDGE_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Child processes to kill if the test process exits without stopping them. */
const children = new Set();
function killChildren() {
  for (const child of children) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', killChildren);
// Also when the test runner stops this process with a signal (a timeout, Ctrl-C).
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => {
    killChildren();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

/**
 * The gateway's launcher: env WS_BRIDGE_GATEWAY (a relative path is taken from the repository
 * root, then from the current directory), default infra/local-gateway.sh, which starts the
 * gateway as `make run` does (its binary: env LOCAL_GATEWAY_BIN, default target/debug).
 */
export function gatewayPath() {
  const given = process.env.WS_BRIDGE_GATEWAY;
  if (!given) return join(repoRoot, 'infra', 'local-gateway.sh');
  if (isAbsolute(given)) return given;
  const fromRoot = resolve(repoRoot, given);
  return existsSync(fromRoot) ? fromRoot : resolve(given);
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (server.address());
      server.close(() => resolvePort(port));
    });
  });
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `check` until it returns a truthy value (returned) or `timeoutMs` passes (throws).
 * @template T
 * @param {() => T | Promise<T>} check
 * @param {{ timeoutMs?: number, intervalMs?: number, what?: string }} [options]
 * @returns {Promise<NonNullable<T>>}
 */
export async function waitFor(check, { timeoutMs = 15_000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const value = await check();
      if (value) return /** @type {NonNullable<T>} */ (value);
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

/** @param {number} port */
function accepts(port) {
  return new Promise((resolveAccepts) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolveAccepts(true);
    });
    socket.once('error', () => resolveAccepts(false));
  });
}

/**
 * Start `local-gateway` on a free 127.0.0.1 port and wait until it accepts connections.
 * @param {{ args?: string[], env?: Record<string, string>, port?: number, binary?: string }} [options]
 *   args: extra flags (e.g. ['--idle-timeout-secs', '3']); env: added to the environment;
 *   binary: what to start instead of WS_BRIDGE_GATEWAY (the gateway itself, without run.args)
 * @returns {Promise<{ port: number, wsUrl: string, httpUrl: string, pid: () => number | undefined,
 *   logs: () => string, stop: () => Promise<void>, start: () => Promise<void>, restart: () => Promise<void> }>}
 */
export async function startGateway({ args = [], env = {}, port, binary = gatewayPath() } = {}) {
  if (!existsSync(binary)) {
    throw new Error(`no gateway binary at ${binary}; build it or set WS_BRIDGE_GATEWAY`);
  }
  /** @type {import('node:child_process').ChildProcess | null} */
  let child = null;
  let output = '';
  let chosenPort = port ?? (await freePort());

  /** @param {boolean} samePort keep the port (a restart, or one the caller chose) */
  async function launch(samePort) {
    let lastFailure = '';
    for (let tries = 0; tries < 5; tries += 1) {
      const proc = spawn(binary, ['--host', '127.0.0.1', '--port', String(chosenPort), ...args], {
        env: { RUST_LOG: 'warn', ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.add(proc);
      /** @param {Buffer} chunk */
      const keep = (chunk) => {
        output = (output + chunk.toString()).slice(-20_000);
      };
      proc.stdout?.on('data', keep);
      proc.stderr?.on('data', keep);
      let exited = false;
      proc.once('exit', () => {
        exited = true;
        children.delete(proc);
      });
      const deadline = Date.now() + 20_000;
      while (!exited && Date.now() < deadline) {
        if (await accepts(chosenPort)) {
          child = proc;
          return;
        }
        await sleep(25);
      }
      if (!exited) {
        proc.kill('SIGKILL');
        throw new Error(`gateway did not accept on port ${chosenPort} within 20 s:\n${output}`);
      }
      lastFailure = output;
      // The port was taken in the meantime: pick another, or wait for it to be released.
      if (samePort) await sleep(250);
      else chosenPort = await freePort();
    }
    throw new Error(`gateway exited at start-up:\n${lastFailure}`);
  }

  async function stop() {
    const proc = child;
    child = null;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  await launch(port !== undefined);
  const fixedPort = chosenPort;
  return {
    port: fixedPort,
    wsUrl: `ws://127.0.0.1:${fixedPort}/dev`,
    httpUrl: `http://127.0.0.1:${fixedPort}/dev`,
    pid: () => child?.pid,
    logs: () => output,
    stop,
    /** Start a new process on the same port after stop() (no-op while running). */
    async start() {
      if (child !== null) return;
      chosenPort = fixedPort;
      await launch(true);
    },
    /** Stop the process and start a new one on the same port. */
    async restart() {
      await stop();
      chosenPort = fixedPort;
      await launch(true);
    },
  };
}

/**
 * Launch headless Chromium (Debian's) through playwright-core, with a fresh profile.
 * @param {{ args?: string[] }} [options] extra command-line flags
 */
export async function launchChromium({ args = [] } = {}) {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set WS_BRIDGE_CHROMIUM)`);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, ...args],
  });
  // playwright-core kills the browsers it launched when this process exits.
  return browser;
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.ts': 'text/plain; charset=utf-8',
};

/**
 * Serve files of `root` (default: this package) on 127.0.0.1, plus `routes`
 * (path → handler) that answer first. `/` answers an empty HTML page.
 * @param {{ root?: string, routes?: Record<string, (req: import('node:http').IncomingMessage,
 *   res: import('node:http').ServerResponse) => void> }} [options]
 */
export async function startStaticServer({ root = packageRoot, routes = {} } = {}) {
  const base = resolve(root);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const route = routes[url.pathname];
    if (route) return route(req, res);
    if (url.pathname === '/' || url.pathname === '/index.html') {
      res.writeHead(200, { 'content-type': TYPES['.html'], 'cache-control': 'no-store' });
      res.end(
        // No favicon request (a 404 the browser would log in the console).
        '<!doctype html><html><head><meta charset="utf-8"><title>ws-bridge test</title><link rel="icon" href="data:,"></head><body></body></html>',
      );
      return;
    }
    const file = normalize(join(base, decodeURIComponent(url.pathname)));
    if (!file.startsWith(base + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[/** @type {keyof typeof TYPES} */ (extname(file))] ?? 'application/octet-stream',
      'cache-control': 'no-store',
    });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => server.close(() => r(undefined))),
  };
}

/**
 * A JSON HTTP request to the gateway (or anything); resolves with { status, body }.
 * @param {string} method
 * @param {string} url
 * @param {unknown} [body]
 * @param {Record<string, string>} [headers]
 */
export async function httpJson(method, url, body, headers = {}) {
  // As a backend calls the gateway `make run` starts: with its API token (a header can replace it).
  headers = { authorization: `Bearer ${apiToken}`, ...headers };
  const response = await fetch(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed };
}
