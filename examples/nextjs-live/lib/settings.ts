// The example's settings, read from the environment on the server at request time (the pages are
// dynamic), so that one `next build` serves any gateway: `make example-nextjs` and the tests set
// them.

/** The channel the page lists: a channel with history on the example's gateway (HISTORY_CHANNELS=updates). */
export const CHANNEL = 'updates';

export type Settings = {
  /** The gateway's HTTP API (stage URL), where the server publishes. */
  httpUrl: string;
  /** The gateway's WebSocket URL, where browsers connect. */
  wsUrl: string;
  /** The HTTP API's token (`API_TOKEN` of the gateway). */
  apiToken: string | null;
  /** The HS256 secret shared with the gateway (`JWT_SECRET`), that page tokens are signed with. */
  jwtSecret: string;
};

export function settings(): Settings {
  const jwtSecret = process.env.WS_BRIDGE_JWT_SECRET ?? '';
  if (jwtSecret === '') throw new Error('WS_BRIDGE_JWT_SECRET is not set: it must be the gateway JWT_SECRET');
  return {
    httpUrl: process.env.WS_BRIDGE_HTTP_URL ?? 'http://127.0.0.1:3001/dev',
    wsUrl: process.env.WS_BRIDGE_WS_URL ?? 'ws://127.0.0.1:3001/dev',
    apiToken: process.env.WS_BRIDGE_TOKEN || null,
    jwtSecret,
  };
}
