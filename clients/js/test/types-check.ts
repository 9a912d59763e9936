// Compiled by `npm run typecheck` (tsc --noEmit), never run: the declarations must accept
// the documented usage and reject misuse (the @ts-expect-error lines fail the check if they compile).
import WebSocket from 'ws';
import { WsBridgeClient, WsBridgeError } from '@ws-bridge/client';
import type {
  MessageMeta,
  OpenDetail,
  Position,
  PublishedData,
  ResetDetail,
  TokenContext,
  WsBridgeState,
} from '@ws-bridge/client';
import { WsBridgeProvider, useChannel, useWsBridge, useWsBridgeContext } from '@ws-bridge/client/react';
import type { UseWsBridgeResult } from '@ws-bridge/client/react';

const client = new WsBridgeClient({
  url: 'ws://127.0.0.1:3001/dev',
  channels: ['post:42'],
  token: async (context: TokenContext) => (context.reason === 'refused' ? 'fresh' : 'cached'),
  clientId: 'dashboard-7',
  keepAliveMs: 240_000,
  backoff: { initialMs: 500, maxMs: 30_000 },
  maxQueue: 100,
  WebSocket,
});
new WsBridgeClient({ url: 'wss://example.test/prod', token: 'a-token' });
new WsBridgeClient({ url: 'wss://example.test/prod', token: () => null });

const state: WsBridgeState = client.state;
const id: string | null = client.connectionId;
const held: string[] = client.channels;

const off: () => void = client.on('open', (detail: OpenDetail) => {
  const cid: string | null = detail.connectionId;
  void cid;
});
off();
client.on('reconnecting', ({ delayMs, status }) => {
  const n: number = delayMs;
  const s: number | null = status;
  (void n, s);
});
client.on('closed', ({ byClient, error }) => {
  if (!byClient && error) {
    const code: 'HANDSHAKE_REFUSED' | string = error.code;
    void code;
  }
});
client.on('error', ({ kind, message }) => void [kind, message]);
client.on('message', (message) => {
  if (typeof message !== 'string') void message.type;
});
client.onMessage<{ type: 'comment'; postId: number }>('comment', (m) => {
  const postId: number = m.postId;
  void postId;
});
client.addEventListener('open', (event) => {
  const detail: OpenDetail = event.detail;
  void detail;
});

async function use(): Promise<void> {
  const channels: string[] = await client.subscribe(['a', 'b']);
  await client.subscribe('c');
  await client.unsubscribe(['a']);
  const published: PublishedData = await client.publish('a', { text: 'hi' });
  (void channels, published.sent);
  client.send({ action: 'ping' });
  client.close();
  client.close(4001, 'bye');
  try {
    await client.subscribe(['x']);
  } catch (error) {
    if (error instanceof WsBridgeError) {
      const status: number | null = error.status;
      (void status, error.code === 'QUEUE_FULL');
    }
  }
}
(void use, state, id, held);

// Channels with history: positions in and out, message metadata, resets.
const saved: Record<string, Position> = JSON.parse(sessionStorage.getItem('positions') ?? '{}');
const resuming = new WsBridgeClient({ url: 'ws://x', channels: ['post:42'], positions: saved, gapTimeoutMs: 500 });
resuming.on('message', (message, meta: MessageMeta | null) => {
  if (meta !== null) {
    const seq: number = meta.seq;
    const replayed: boolean = meta.replayed;
    (void message, seq, replayed);
  }
  sessionStorage.setItem('positions', JSON.stringify(resuming.positions));
});
resuming.onMessage('comment.created', (message, meta) => void [message.type, meta?.channel]);
resuming.on('reset', (detail: ResetDetail) => {
  const why: string = detail.reason;
  (void why, detail.channel, detail.seq, detail.epoch);
});
resuming.addEventListener('message', (event) => void event.meta?.seq);
async function publishSeq(): Promise<number | undefined> {
  return (await resuming.publish('post:42', {})).seq;
}
void publishSeq;
// @ts-expect-error a position needs an epoch
new WsBridgeClient({ url: 'ws://x', positions: { a: { seq: 1 } } });

// @ts-expect-error url is required
new WsBridgeClient({ channels: ['a'] });
// @ts-expect-error channels are strings
new WsBridgeClient({ url: 'ws://x', channels: [1] });
// @ts-expect-error no such event
client.on('opened', () => {});
// @ts-expect-error publish needs a channel
client.publish();

function Component(): UseWsBridgeResult {
  const result = useWsBridge({
    url: 'ws://127.0.0.1:3001/dev',
    channels: ['news'],
    token: async () => 'jwt',
    onMessage: (message, meta) => void [message, meta?.seq],
    onReset: (reset) => void reset.reason,
    positions: { news: { seq: 3, epoch: 'e' } },
    gapTimeoutMs: 200,
  });
  const s: WsBridgeState = result.state;
  const c: WsBridgeClient | null = result.client;
  (void s, c);
  // @ts-expect-error url is required
  useWsBridge({ channels: [] });
  return result;
}
void Component;

// The hooks are generic over the application's own messages.
type Update = { text: string; at: number };
export function Typed(): string {
  const { lastMessage } = useWsBridge<Update>({ url: 'ws://127.0.0.1:3001/dev', tokenUrl: '/api/ws-token' });
  const text: string | undefined = lastMessage?.text;
  // @ts-expect-error an Update has no `title`
  void lastMessage?.title;
  useChannel<Update>('updates', {
    onMessage: (update, meta) => void [update.at.toFixed(), meta?.seq],
    onReset: ({ channel, seq }) => void [channel, seq],
  });
  const { client, state } = useWsBridgeContext();
  void [client?.connectionId, state];
  return text ?? '';
}
export const provider = WsBridgeProvider({ url: 'ws://127.0.0.1:3001/dev', channels: ['updates'], children: null });
