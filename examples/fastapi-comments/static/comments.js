// The post page: lists the post's comments, adds new ones through the API, and shows every new
// comment live through ws-bridge. No build step: the browser client is served as an ES module.
import { WsBridgeClient } from '/ws-bridge/ws-bridge.js';

const { postId, wsUrl, statusUrl, visitor } = JSON.parse(document.getElementById('config').textContent);
const channel = `post:${postId}`;

const list = document.getElementById('comments');
const count = document.getElementById('comment-count');
const noun = document.getElementById('comment-noun');
const stateBadge = document.getElementById('state');
const form = document.getElementById('comment-form');
const textarea = document.getElementById('content');
const formStatus = document.getElementById('form-status');

// Comments by id: a comment can arrive twice (from its own POST's answer and live, or live and
// from a reload of the list) and is shown once.
const shown = new Map();
// The comments that came through ws-bridge, in arrival order, with the channel's sequence
// number and whether it was replayed from the gateway's history (for the end-to-end test).
const arrivals = [];

function addComment(comment, { fresh = false } = {}) {
  if (!comment || comment.postId !== postId || shown.has(comment.id)) return;
  const item = document.createElement('li');
  item.dataset.id = String(comment.id);
  if (fresh) item.classList.add('new');
  const meta = document.createElement('div');
  meta.className = 'meta';
  const when = new Date(comment.createdAt);
  meta.textContent = `${comment.author}${comment.author === visitor ? ' (you)' : ''} · ${when.toLocaleTimeString()}`;
  const content = document.createElement('p');
  content.className = 'content';
  content.textContent = comment.content; // text, never HTML
  item.append(meta, content);
  // Keep the list in id (creation) order whatever order they arrive in.
  const next = [...list.children].find((li) => Number(li.dataset.id) > comment.id);
  list.insertBefore(item, next ?? null);
  shown.set(comment.id, comment);
  count.textContent = String(shown.size);
  noun.textContent = shown.size === 1 ? 'comment' : 'comments'; // "1 comment", "0 comments"
}

async function loadComments() {
  const response = await fetch(`/api/posts/${postId}/comments`);
  if (!response.ok) throw new Error(`listing comments answered ${response.status}`);
  const { comments } = await response.json();
  for (const comment of comments) addComment(comment);
}

const STATE_TEXT = {
  connecting: 'connecting…',
  open: 'live',
  reconnecting: 'reconnecting…',
  closed: 'offline',
};

function showState(state) {
  stateBadge.dataset.state = state;
  stateBadge.textContent = STATE_TEXT[state] ?? state;
}

const client = new WsBridgeClient({
  url: wsUrl,
  // Where the client asks why a handshake failed: a refused token (then 'unauthorized') or an
  // outage (it keeps trying, however long it lasts).
  statusUrl,
  channels: [channel],
  // A fresh short-lived token before every handshake (reconnects included).
  token: async () => {
    const response = await fetch(`/api/token?post_id=${postId}`, { cache: 'no-store' });
    if (!response.ok) throw new Error(`token endpoint answered ${response.status}`);
    return (await response.json()).token;
  },
});

for (const state of Object.keys(STATE_TEXT)) client.on(state, () => showState(state));
showState(client.state);
client.on('error', (detail) => console.warn('ws-bridge:', detail.message));
// The gateway refused the token; the next handshakes get fresh ones from /api/token (a real app
// might sign the user in again here).
client.on('unauthorized', (detail) => console.warn('ws-bridge: token refused', detail.status));
// The gateway keeps post:* channels' recent messages (HISTORY_CHANNELS=post:*): after a
// reconnect the client itself asks for what it missed, so each comment arrives once, in order.
client.onMessage('comment.created', ({ data }, meta) => {
  if (data?.postId !== postId) return;
  arrivals.push({ id: data.comment?.id, seq: meta?.seq ?? null, replayed: meta?.replayed ?? false });
  addComment(data.comment, { fresh: true });
});
// Who is viewing the post: the gateway tracks post:* channels' members (PRESENCE_CHANNELS=post:*).
// A reload or a second tab of the same visitor changes nothing; a visitor who leaves is gone
// after the gateway's grace period.
const viewers = document.getElementById('viewers');
function showViewers(members) {
  const names = members.map(({ user }) => (user === visitor ? `${user} (you)` : user));
  viewers.dataset.count = String(members.length);
  viewers.textContent = names.length > 0 ? `Viewing now: ${names.join(', ')}` : '';
}
client.on('presence', (detail) => {
  if (detail.channel === channel) showViewers(detail.members);
});
// Only when the gateway could not fill the gap (away longer than it keeps messages, or it
// restarted) is the list loaded again.
client.on('reset', () => loadComments().catch((error) => console.warn(error)));
// Once subscribed, load the list again: a comment posted between the first load and the
// subscription is in it (and shown once).
const offFirstOpen = client.on('open', () => {
  offFirstOpen();
  loadComments().catch((error) => console.warn(error));
});
loadComments().catch((error) => {
  formStatus.textContent = `Could not load the comments: ${error.message}`;
});

function describeError(status, body) {
  if (Array.isArray(body?.detail)) return body.detail.map((d) => d.msg).join('; ');
  return body?.detail ?? body?.error ?? `the server answered ${status}`;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const button = form.querySelector('button');
  button.disabled = true;
  formStatus.className = 'form-status';
  formStatus.textContent = '';
  try {
    const response = await fetch(`/api/posts/${postId}/comments`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ content: textarea.value }),
    });
    const body = await response.json().catch(() => null);
    if (response.status !== 201) {
      formStatus.textContent = `Not added: ${describeError(response.status, body)}`;
      return;
    }
    addComment(body.comment, { fresh: true });
    textarea.value = '';
    if (body.live.published) {
      formStatus.className = 'form-status ok';
      formStatus.textContent = `Added; sent live to ${body.live.report.sent} open page(s).`;
    } else {
      formStatus.textContent = `Saved, but the live update failed: ${body.live.error}`;
    }
  } catch (error) {
    formStatus.textContent = `Not added: ${error.message}`;
  } finally {
    button.disabled = false;
  }
});

// For debugging from the console (and for the end-to-end test).
window.wsBridgeComments = { client, shown, arrivals };
