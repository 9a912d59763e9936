// A user's TypeScript against the installed @ws-bridge/client (tests/packages/check_packages.py
// type-checks it in a clean project with the repository's pinned typescript): both entry points
// resolve to the declarations the tarball ships, and they reject misuse.
import { WsBridgeClient, WsBridgeError } from '@ws-bridge/client';
import type { MessageMeta, WsBridgeState } from '@ws-bridge/client';
import { WsBridgeProvider, useChannel, useWsBridge } from '@ws-bridge/client/react';
import type { UseWsBridgeResult } from '@ws-bridge/client/react';
import { Unavailable, WsBridgePublisher } from '@ws-bridge/client/publisher';
import type { AsyncBroadcastReport, DeliveryReport } from '@ws-bridge/client/publisher';

const client = new WsBridgeClient({
  url: 'ws://127.0.0.1:3001/dev',
  channels: ['post:42'],
  token: async () => 'a-token',
});
const state: WsBridgeState = client.state;
client.onMessage<{ type: 'comment.created'; data: { id: number } }>(
  'comment.created',
  (message, meta: MessageMeta | null) => void [message.data.id, meta?.channel, state],
);
client.on('error', ({ error }) => void (error instanceof WsBridgeError));
client.close();

// @ts-expect-error the URL is required
new WsBridgeClient({ channels: ['post:42'] });

export function LiveComments(): UseWsBridgeResult {
  // @ts-expect-error the URL is required here too
  useWsBridge({ channels: [] });
  useChannel<{ text: string }>('updates', { onMessage: (update) => void update.text.length });
  void WsBridgeProvider({ url: 'ws://127.0.0.1:3001/dev', tokenUrl: '/api/ws-token', children: null });
  return useWsBridge({ url: 'ws://127.0.0.1:3001/dev', channels: ['post:42'] });
}

export async function notify(): Promise<number> {
  const publisher = new WsBridgePublisher({
    baseUrl: 'http://127.0.0.1:3001/dev',
    token: 'api-token',
    timeoutMs: 5_000,
  });
  try {
    // An AsyncBroadcastReport only when the gateway answered 202 (its BROADCAST_ASYNC_THRESHOLD).
    const report: DeliveryReport | AsyncBroadcastReport = await publisher.publish('post:42', {
      type: 'comment.created',
      id: 7,
    });
    const seq: number | undefined = report.seq;
    return report.sent + (seq ?? 0);
  } catch (error) {
    if (error instanceof Unavailable) return error.report?.sent ?? 0;
    throw error;
  } finally {
    // @ts-expect-error the base URL is required
    new WsBridgePublisher({ token: 'api-token' });
    // @ts-expect-error an event is a JSON object, not a string
    void publisher.broadcast('text');
  }
}
