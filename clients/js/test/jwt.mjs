// HS256 JSON Web Tokens for the tests, made with node:crypto (no library).

import { createHmac } from 'node:crypto';

/** @param {string | Buffer} data */
const base64url = (data) => Buffer.from(data).toString('base64url');

/**
 * Sign `claims` with HS256. `expiresIn` (seconds from now, may be negative) sets `exp`.
 * @param {string} secret
 * @param {Record<string, unknown>} claims
 * @param {{ expiresIn?: number }} [options]
 */
export function mintToken(secret, claims, { expiresIn = 300 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = base64url(JSON.stringify({ iat: now, exp: now + expiresIn, ...claims }));
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}
