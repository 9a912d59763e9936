// The README's quickstart, run as written: its blocks are read from README.md by their `run=`
// names and executed in a fresh folder, as a user would in their own project: a new virtualenv
// with the Python client installed from this checkout, their main.py and page, uvicorn, curl,
// and the page in headless Chromium.
//
// Two substitutions, both of addresses: `make run` is the gateway as infra/local-gateway.sh
// starts it (what make run runs, with the test build), on a free port instead of 3001; the app
// listens on a free port instead of 8080. Everything else is the README's text.
//
//   LOCAL_GATEWAY_BIN=target/debug/local-gateway node --test tests/docs/
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePort, launchChromium } from '../../clients/js/test/browser.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WAIT_MS = 15_000;

/** The README's fenced blocks by their `run=` name. */
function readmeBlocks() {
  const blocks = new Map();
  const pattern = /^```[a-z]+,run=([\w.-]+)\n([\s\S]*?)^```$/gm;
  for (const [, name, body] of readFileSync(path.join(repoRoot, 'README.md'), 'utf8').matchAll(pattern)) {
    blocks.set(name, body);
  }
  return blocks;
}
const blocks = readmeBlocks();
function block(name) {
  const body = blocks.get(name);
  assert.ok(body !== undefined, `README.md has no block run=${name}`);
  return body;
}

const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Runs `script` with bash in `cwd`; resolves with what it printed, rejects with all its output. */
function sh(script, cwd, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    let [stdout, output] = ['', ''];
    child.stdout.on('data', (chunk) => ((stdout += chunk), (output += chunk)));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('exit', (code) => {
      running.delete(child);
      if (code === 0) resolve(stdout);
      else reject(new Error(`\`${script}\` exited ${code}:\n${output.slice(-4000)}`));
    });
  });
}

/** Starts a long-running command; resolves once `port` accepts connections. */
async function serve(name, command, args, cwd, port, env = {}) {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.output = '';
  child.stdout.on('data', (chunk) => (child.output = (child.output + chunk).slice(-8000)));
  child.stderr.on('data', (chunk) => (child.output = (child.output + chunk).slice(-8000)));
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited ${child.exitCode}:\n${child.output}`);
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.end(() => resolve(true)));
      socket.on('error', () => resolve(false));
    });
    if (open) return child;
    if (Date.now() > deadline) throw new Error(`${name} did not listen on ${port}:\n${child.output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function stop(child) {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  running.delete(child);
}

let project;
let gateway;
let app;
let browser;
let appPort;

before(async () => {
  project = mkdtempSync(path.join(tmpdir(), 'ws-bridge-quickstart-'));
  // 1. `make run`: the gateway as make run starts it.
  assert.equal(block('quickstart-gateway').trim(), 'make run');
  const gatewayPort = await freePort();
  gateway = await serve(
    'the gateway',
    path.join(repoRoot, 'infra', 'local-gateway.sh'),
    ['--port', String(gatewayPort)],
    repoRoot,
    gatewayPort,
  );
  const gatewayAddress = (text) => text.replaceAll('127.0.0.1:3001', `127.0.0.1:${gatewayPort}`);
  // 2. The client into a new virtualenv, from this checkout.
  await sh(block('quickstart-install'), project, {
    WS_BRIDGE: repoRoot,
    PIP_DISABLE_PIP_VERSION_CHECK: '1',
  });
  // 3. and 4. The app and its page, as printed.
  writeFileSync(path.join(project, 'main.py'), gatewayAddress(block('quickstart-main.py')));
  await sh(block('quickstart-static'), project, { WS_BRIDGE: repoRoot });
  writeFileSync(path.join(project, 'static', 'index.html'), gatewayAddress(block('quickstart-index.html')));
  // 5. uvicorn.
  appPort = await freePort();
  const [command, ...args] = block('quickstart-serve').trim().replace('--port 8080', `--port ${appPort}`).split(/\s+/);
  app = await serve('uvicorn', path.join(project, command), args, project, appPort);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  stop(app);
  stop(gateway);
  if (project) rmSync(project, { recursive: true, force: true });
});

test('the page goes live and shows the shipped order; the route reports one delivery', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(`http://127.0.0.1:${appPort}/`);
  await page.waitForFunction(() => document.getElementById('status').textContent === 'live', null, {
    timeout: WAIT_MS,
  });
  const answer = await sh(block('quickstart-try').replace('127.0.0.1:8080', `127.0.0.1:${appPort}`), project);
  assert.deepEqual(JSON.parse(answer), { delivered: 1 });
  await page.waitForFunction(
    () => [...document.querySelectorAll('#events li')].some((li) => li.textContent === 'order 42: order.shipped'),
    null,
    { timeout: WAIT_MS },
  );
  assert.deepEqual(errors, []);
});
