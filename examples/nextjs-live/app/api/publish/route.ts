// POST /api/publish {"text": "…"}: publishes an update to the page's channel through the typed
// publisher, as the page's server action does; answers with the gateway's delivery report.
import { BadRequest, TransportError, Unauthorized, Unavailable } from '@ws-bridge/client/publisher';
import { getPublisher, updateText, type Update } from '@/lib/publisher';
import { CHANNEL } from '@/lib/settings';

export const dynamic = 'force-dynamic';

export async function POST(request: Request): Promise<Response> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    return Response.json({ error: 'the body must be JSON: {"text": "…"}' }, { status: 400 });
  }
  const text = updateText(typeof body === 'object' && body !== null ? (body as { text?: unknown }).text : null);
  if (text === null) return Response.json({ error: 'text must be 1 to 500 characters' }, { status: 400 });
  const update: Update = { text };
  try {
    const report = await getPublisher().publish(CHANNEL, update);
    return Response.json(report);
  } catch (error) {
    // What the publisher's errors mean for this route's caller.
    if (error instanceof Unavailable) {
      return Response.json({ error: error.message, report: error.report }, { status: 503 });
    }
    if (error instanceof TransportError) {
      return Response.json({ error: error.message, maybeSent: error.maybeSent }, { status: 502 });
    }
    if (error instanceof BadRequest || error instanceof Unauthorized) {
      // The server's configuration, not the caller's request, is at fault.
      return Response.json({ error: error.message }, { status: 500 });
    }
    throw error;
  }
}
