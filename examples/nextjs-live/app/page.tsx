// `/`: the live updates of the channel `updates`, and a form that publishes one.
import { CHANNEL } from '@/lib/settings';
import { PublishForm } from './publish-form';
import { Updates } from './updates';

export const dynamic = 'force-dynamic';

export default function Home() {
  return (
    <main>
      <h1>Live updates</h1>
      <PublishForm />
      <Updates channel={CHANNEL} />
    </main>
  );
}
