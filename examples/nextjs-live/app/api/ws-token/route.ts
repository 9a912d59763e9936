// GET /api/ws-token: the page's token for the WebSocket handshake, asked for before every
// handshake by the provider (`tokenUrl`): it may join the channel the page lists, nothing else.
import { CHANNEL, settings } from '@/lib/settings';
import { mintToken, TOKEN_TTL_SECONDS, visitorId } from '@/lib/token';

export const dynamic = 'force-dynamic';

export function GET(): Response {
  const token = mintToken(settings().jwtSecret, visitorId(), [CHANNEL]);
  return Response.json(
    { token, expiresIn: TOKEN_TTL_SECONDS, channels: [CHANNEL] },
    { headers: { 'cache-control': 'no-store' } },
  );
}
