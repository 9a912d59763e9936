'use client';
// The live list: the `text` of each message on the channel, in order, each once. The channel has
// history on the gateway, so after a lost connection the client resumes where it was; a reset
// (the history could not fill the gap) is shown as such.
import { useChannel } from '@ws-bridge/client/react';
import { useState } from 'react';
import type { Update } from '@/lib/publisher';

type Line = { key: string; text: string };

export function Updates({ channel }: { channel: string }) {
  const [lines, setLines] = useState<Line[]>([]);
  const { state, subscribed } = useChannel<Update>(channel, {
    onMessage: (update, meta) => {
      if (typeof update?.text !== 'string') return;
      const key = meta ? `${meta.epoch}:${meta.seq}` : `live:${Date.now()}:${Math.random()}`;
      setLines((previous) => [...previous, { key, text: update.text }]);
    },
    onReset: ({ reason }) =>
      setLines((previous) => [...previous, { key: `reset:${Date.now()}`, text: `(missed updates: ${reason})` }]),
  });
  return (
    <section>
      {/* data-subscribed: from now on the channel's messages reach this list. */}
      <p id="state" data-state={state} data-subscribed={subscribed}>
        {subscribed ? 'live' : state}
      </p>
      <ul id="updates">
        {lines.map((line) => (
          <li key={line.key}>{line.text}</li>
        ))}
      </ul>
    </section>
  );
}
