'use server';
// The page's server action: publishes the form's text to the page's channel through the typed
// publisher. Its result is shown under the form.
import { WsBridgeApiError } from '@ws-bridge/client/publisher';
import { getPublisher, updateText } from '@/lib/publisher';
import { CHANNEL } from '@/lib/settings';

export type PublishState = { ok: boolean; message: string } | null;

export async function publishUpdate(_previous: PublishState, form: FormData): Promise<PublishState> {
  const text = updateText(form.get('text'));
  if (text === null) return { ok: false, message: 'Write 1 to 500 characters.' };
  try {
    const report = await getPublisher().publish(CHANNEL, { text });
    return {
      ok: true,
      message: `Sent to ${report.sent} of ${report.connectionCount} (seq ${report.seq ?? '-'})`,
    };
  } catch (error) {
    if (error instanceof WsBridgeApiError) return { ok: false, message: error.message };
    throw error;
  }
}
