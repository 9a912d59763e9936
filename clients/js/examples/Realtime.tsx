// A React component using the hook (type-checked by `npm run typecheck`; build it with your bundler).
import { useWsBridge } from '@ws-bridge/client/react';

async function fetchToken(): Promise<string> {
  const response = await fetch('/realtime-token'); // your backend mints a short-lived JWT
  return (await response.json()).token;
}

export function Comments({ postId }: { postId: number }) {
  const { state, lastMessage, client } = useWsBridge({
    url: 'ws://127.0.0.1:3001/dev',
    channels: [`post:${postId}`], // changing postId re-subscribes on the same connection
    token: fetchToken,
    onMessage: (message) => console.log('live', message),
  });
  return (
    <section>
      <p>{state === 'open' ? 'live' : state}</p>
      <pre>{lastMessage ? JSON.stringify(lastMessage) : 'no news yet'}</pre>
      <button disabled={!client} onClick={() => client?.publish(`post:${postId}`, { typing: true })}>
        typing…
      </button>
    </section>
  );
}
