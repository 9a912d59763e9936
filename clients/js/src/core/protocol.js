// The client protocol as data, without I/O: the frames a client sends and the replies it expects,
// the shapes of positions on channels with history, and the checks of what callers pass in.
// Shared by the browser client (ws-bridge.js) and the server-side publisher (publisher.js).
//
// SPDX-License-Identifier: MIT OR Apache-2.0

/**
 * @typedef {object} Position where a channel with history stands
 * @property {number} seq the last message delivered (or counted as seen); 0 before the first
 * @property {string} epoch the channel's numbering; '' while the client has not learnt it
 *   (nothing published yet)
 */

/**
 * @typedef {object} MessageMeta the second argument of 'message' listeners: set for messages of
 *   channels with history, else null
 * @property {string} channel
 * @property {number} seq
 * @property {string} epoch
 * @property {boolean} replayed true when the message was missed live and came from the channel's
 *   history on a resume
 */

/**
 * @typedef {object} ResetDetail a channel's history could not fill the gap since the client's
 *   position: messages were missed and will not come. Reload the state the channel's messages
 *   update; delivery goes on after `seq`.
 * @property {string} channel
 * @property {number} seq the channel's latest number: the next message delivered is `seq + 1`
 * @property {string} epoch
 * @property {string} reason the server's reason: `epoch changed`, `history expired`, `history
 *   trimmed`, `ahead of the server`
 */

/**
 * @typedef {object} PublishedData `{ "type": "published", "data": … }`
 * @property {string} channel
 * @property {number} connectionCount
 * @property {number} sent
 * @property {number} [seq] on a channel with history: the message's number (it counts as
 *   delivered to this client)
 * @property {string} [epoch] on a channel with history: the numbering `seq` belongs to
 */

/**
 * @typedef {object} Member a member of a presence channel (the gateway's PRESENCE_CHANNELS): a
 *   user, with all their connections in the channel
 * @property {string} user the token's `sub` (`connection:<id>` for an anonymous connection)
 * @property {number} connections the user's connections in the channel (0 while their last one
 *   is in the grace period before a leave)
 * @property {number} joinedAt epoch ms of their first join
 * @property {Record<string, unknown>} [info] from the token claim PRESENCE_INFO_CLAIM names
 */

/**
 * @typedef {object} MemberPage `{ "type": "presence", "data": … }`
 * @property {Member[]} members in user order
 * @property {string} [next] the user to continue after, while there may be more
 */

/** @typedef {'hello' | 'subscribe' | 'unsubscribe' | 'publish' | 'presence'} LaneAction */

/** The reply each request of the lane waits for. */
export const REPLY_TYPE = /** @type {const} */ ({
  hello: 'welcome',
  subscribe: 'subscribed',
  unsubscribe: 'unsubscribed',
  publish: 'published',
  presence: 'presence',
});

/** The actions answered by a reply (the others, e.g. `ping`, are answered by a pong or nothing). */
export const LANE_ACTIONS = new Set(['hello', 'subscribe', 'unsubscribe', 'publish', 'presence']);

/** The keep-alive frame. */
export const PING_FRAME = '{"action":"ping"}';

/**
 * @param {unknown} value
 * @returns {value is Record<string, any>}
 */
export function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * @param {unknown} value
 * @returns {value is number}
 */
export function isSeq(value) {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * @param {unknown} value
 * @returns {value is Position}
 */
export function isPosition(value) {
  return isObject(value) && isSeq(value.seq) && typeof value.epoch === 'string';
}

/**
 * The `positions` option, checked and copied.
 * @param {unknown} positions
 * @returns {Map<string, Position>}
 */
export function positionMap(positions) {
  /** @type {Map<string, Position>} */
  const map = new Map();
  if (positions === undefined || positions === null) return map;
  if (!isObject(positions))
    throw new TypeError('WsBridgeClient: positions must be an object of channel → {seq, epoch}');
  for (const [channel, position] of Object.entries(positions)) {
    if (!isPosition(position)) {
      throw new TypeError(
        `WsBridgeClient: positions[${JSON.stringify(channel)}] must be {seq: an integer >= 0, epoch: a string}`,
      );
    }
    map.set(channel, { seq: position.seq, epoch: position.epoch });
  }
  return map;
}

/**
 * @param {unknown} channels
 * @param {string} what
 * @returns {string[]}
 */
export function channelList(channels, what) {
  const list = typeof channels === 'string' ? [channels] : channels;
  if (!Array.isArray(list) || list.some((c) => typeof c !== 'string' || c === '')) {
    throw new TypeError(`${what}: channels must be a non-empty string or an array of them`);
  }
  return [...list];
}

/**
 * @param {number | undefined} value
 * @param {number} fallback
 * @param {string} name
 * @param {string} [owner] who checks it, for the message
 */
export function nonNegative(value, fallback, name, owner = 'WsBridgeClient') {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) {
    throw new TypeError(`${owner}: ${name} must be a finite number >= 0`);
  }
  return value;
}

/**
 * An http(s) base URL option, checked, without query, fragment or trailing slash; null when not
 * given.
 * @param {unknown} value
 * @param {string} what the option's name, for the message
 * @returns {string | null}
 */
export function httpBase(value, what) {
  if (value === undefined || value === null || value === '') return null;
  let parsed;
  try {
    parsed = new URL(String(value));
  } catch {
    throw new TypeError(`${what} ${JSON.stringify(value)} is not a valid URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TypeError(`${what} must start with http:// or https://, got ${parsed.protocol}//`);
  }
  parsed.search = '';
  parsed.hash = '';
  return parsed.href.replace(/\/+$/, '');
}

/**
 * A frame as the client sees it: parsed JSON, or the text itself when it is not JSON.
 * @param {unknown} data
 * @returns {unknown}
 */
export function parseFrame(data) {
  if (typeof data !== 'string') return data;
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

/**
 * The action a raw frame names (`send()`), or null.
 * @param {unknown} frame an object, or its JSON text
 * @returns {string | null}
 */
export function actionOf(frame) {
  const parsed = typeof frame === 'string' ? parseFrame(frame) : frame;
  return isObject(parsed) && typeof parsed.action === 'string' ? parsed.action : null;
}

/**
 * A frame that API Gateway itself sends in place of a reply
 * (`{"message":"Internal server error","connectionId":…,"requestId":…}`, `Forbidden`,
 * `Endpoint request timed out`).
 * @param {Record<string, any>} msg
 */
export function isGatewayErrorFrame(msg) {
  return msg.type === undefined && typeof msg.message === 'string' && 'requestId' in msg;
}

/**
 * Whether `message` answers a request of `action` (its reply, or an error in its place).
 * @param {Record<string, any>} message
 * @param {LaneAction} action
 */
export function isReplyTo(message, action) {
  return message.type === REPLY_TYPE[action] || message.type === 'error' || isGatewayErrorFrame(message);
}

/**
 * The outcome of a reply to `action`: `{ ok: true, data }`, or `{ ok: false, why }` with the
 * server's error text.
 * @param {Record<string, any>} message
 * @param {LaneAction} action
 * @returns {{ ok: true, data: any } | { ok: false, why: string }}
 */
export function replyOutcome(message, action) {
  if (message.type === REPLY_TYPE[action]) return { ok: true, data: message.data };
  const why =
    message.type === 'error'
      ? isObject(message.data) && typeof message.data.error === 'string'
        ? message.data.error
        : JSON.stringify(message.data)
      : String(message.message);
  return { ok: false, why };
}

/**
 * The server's list of the connection's channels in a `subscribed`/`unsubscribed` reply, or null.
 * @param {Record<string, any>} message
 * @returns {string[] | null}
 */
export function heldChannels(message) {
  if (
    (message.type === 'subscribed' || message.type === 'unsubscribed') &&
    isObject(message.data) &&
    Array.isArray(message.data.channels)
  ) {
    return message.data.channels.filter((/** @type {unknown} */ c) => typeof c === 'string');
  }
  return null;
}

/**
 * The frame of a subscribe; `since` (channel → position) only when it names a channel. It asks for
 * the members of its presence channels (the server ignores that for others).
 * @param {string[]} channels
 * @param {Record<string, Position>} since
 */
export function subscribeFrame(channels, since) {
  return JSON.stringify(
    Object.keys(since).length > 0
      ? { action: 'subscribe', channels, since, presence: true }
      : { action: 'subscribe', channels, presence: true },
  );
}
