// Short-lived HS256 JWTs for the page's WebSocket handshake, signed with the secret the gateway
// checks them with (its JWT_SECRET). node:crypto only: no JWT library for one signature.
import { createHmac, randomBytes } from 'node:crypto';

/** A page's token lives five minutes; the client asks the route for a fresh one at every handshake. */
export const TOKEN_TTL_SECONDS = 300;

const base64url = (data: string | Buffer): string => Buffer.from(data).toString('base64url');

/** A token for `sub` that may join `channels`. */
export function mintToken(secret: string, sub: string, channels: string[]): string {
  const now = Math.floor(Date.now() / 1000);
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = base64url(JSON.stringify({ sub, iat: now, exp: now + TOKEN_TTL_SECONDS, channels }));
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

/** An anonymous visitor's id (the example has no login). */
export function visitorId(): string {
  return `visitor-${randomBytes(4).toString('hex')}`;
}
