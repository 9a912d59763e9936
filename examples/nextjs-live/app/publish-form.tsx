'use client';
// A form posting to the server action, which publishes through the typed publisher.
import { useActionState } from 'react';
import { publishUpdate, type PublishState } from './actions';

export function PublishForm() {
  const [result, action, pending] = useActionState<PublishState, FormData>(publishUpdate, null);
  return (
    <form action={action}>
      <input name="text" aria-label="update" required maxLength={500} />
      <button type="submit" disabled={pending}>
        Publish
      </button>
      {result && <output data-ok={result.ok}>{result.message}</output>}
    </form>
  );
}
