// The server's one publisher (a connection pool for the process), used by the server action and
// the route handler. Server code only: it holds the API token.
import { WsBridgePublisher } from '@ws-bridge/client/publisher';
import { settings } from './settings';

let publisher: WsBridgePublisher | null = null;

export function getPublisher(): WsBridgePublisher {
  if (publisher === null) {
    const { httpUrl, apiToken } = settings();
    // A short timeout: the form's submit and POST /api/publish wait for the delivery report.
    publisher = new WsBridgePublisher({
      baseUrl: httpUrl,
      token: apiToken,
      timeoutMs: 5_000,
    });
  }
  return publisher;
}

/** What every publisher of the example sends: the page shows `text`. */
export type Update = { text: string };

/** The text of an update, checked: 1 to 500 characters. */
export function updateText(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const text = value.trim();
  return text.length >= 1 && text.length <= 500 ? text : null;
}
