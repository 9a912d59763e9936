// Listen to a channel from Node: node examples/node.mjs [ws://127.0.0.1:3001/dev] [channel]
// Prints one line per event; Ctrl-C closes the client (no reconnect) and exits.
import WebSocket from 'ws';
import { WsBridgeClient } from '@ws-bridge/client';

const url = process.argv[2] ?? 'ws://127.0.0.1:3001/dev';
const channel = process.argv[3] ?? 'news';

const client = new WsBridgeClient({
  url,
  channels: [channel],
  WebSocket, // Node 20 has no WebSocket of its own
  // token: async () => (await (await fetch('http://127.0.0.1:8080/realtime-token')).json()).token,
});

client.on('open', ({ connectionId, channels }) => console.log(`open ${connectionId} ${channels.join(',')}`));
client.on('reconnecting', ({ delayMs, reason }) => console.log(`reconnecting in ${delayMs} ms (${reason})`));
client.on('error', ({ message }) => console.error(`error ${message}`));
client.on('closed', () => console.log('closed'));
client.on('message', (message) => console.log(`message ${JSON.stringify(message)}`));

process.once('SIGINT', () => client.close());
process.once('SIGTERM', () => client.close());
