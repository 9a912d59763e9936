// Takes docs/src/inspector.png, the book's picture of the inspector: a real gateway, a few real
// clients doing a little, and the page in headless Chromium.
//
//   node local-gateway/inspector-test/screenshot.mjs   (after cargo build -p local-gateway)
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { launchChromium, repoRoot, sleep, startGateway } from '../../clients/js/test/browser.mjs';
import { mintToken } from '../../clients/js/test/jwt.mjs';

const WebSocket = createRequire(join(repoRoot, 'clients', 'js', 'package.json'))('ws');

const SECRET = 'screenshot-secret';
const gateway = await startGateway({ env: { JWT_SECRET: SECRET } });
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  await page.goto(`http://127.0.0.1:${gateway.port}/`);
  await page.locator('#feed-status.live').waitFor();
  const clients = [];
  for (const [user, clientId, channels] of [
    ['alice', 'dashboard-7', ['news']],
    ['bob', 'phone-2', ['news', 'post:42']],
    ['carol', 'tab-1', ['post:42']],
  ]) {
    const token = mintToken(SECRET, { sub: user });
    const ws = new WebSocket(`${gateway.wsUrl}?clientId=${clientId}&token=${token}`);
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ action: 'hello' }));
    ws.send(JSON.stringify({ action: 'subscribe', channels }));
    clients.push(ws);
    await sleep(150);
  }
  clients[1].send(JSON.stringify({ action: 'ping' }));
  await sleep(300);
  await page.fill('#broadcast-channel', 'news');
  await page.fill('#broadcast-data', JSON.stringify({ type: 'headline', text: 'Inspector shipped' }));
  await page.click('#broadcast-form button');
  await sleep(600);
  await page.locator('#timeline li[data-type="invocation"]', { hasText: 'ws-default' }).first().click();
  await sleep(400);
  await page.screenshot({ path: join(repoRoot, 'docs', 'src', 'inspector.png') });
  for (const ws of clients) ws.close(1000);
} finally {
  await browser.close();
  await gateway.stop();
}
