// Presence channels' member lists as the client knows them, without I/O: the lists in
// `subscribed` replies and `presence` answers, kept up to date by the `presence.join` and
// `presence.leave` frames; after a reconnect, the joins and leaves the fresh list shows were
// missed. The client's own user stays a member across a reconnect within the gateway's grace
// period (PRESENCE_LEAVE_GRACE_SECONDS), so a resume shows no leave and join of its own.
//
// SPDX-License-Identifier: MIT OR Apache-2.0

import { isObject } from './protocol.js';

/** @typedef {import('./protocol.js').Member} Member */

/**
 * @typedef {object} PresenceFrame a `presence.join` / `presence.leave` frame (as the server sends
 *   it, or as the tracker derives it from a fresh list after a reconnect)
 * @property {'presence.join' | 'presence.leave'} type
 * @property {string} channel
 * @property {Member | { user: string }} data
 */

/**
 * @param {unknown} value
 * @returns {value is Member}
 */
function isMember(value) {
  return isObject(value) && typeof value.user === 'string';
}

export class PresenceTracker {
  /** @type {Map<string, Map<string, Member>>} channel → user → member */
  #lists = new Map();

  /**
   * The members of `channel`, in user order (a copy); empty for a channel without presence.
   * @param {string} channel
   * @returns {Member[]}
   */
  members(channel) {
    const list = this.#lists.get(channel);
    if (list === undefined) return [];
    return [...list.keys()].sort().map((user) => ({ .../** @type {Member} */ (list.get(user)) }));
  }

  /**
   * A frame from the server: a `presence.join` / `presence.leave` updates its channel's list.
   * @param {Record<string, any>} message
   * @returns {string | null} the channel whose list changed, or null
   */
  observe(message) {
    if (message.type !== 'presence.join' && message.type !== 'presence.leave') return null;
    if (typeof message.channel !== 'string' || !isMember(message.data)) return null;
    let list = this.#lists.get(message.channel);
    if (list === undefined) {
      list = new Map();
      this.#lists.set(message.channel, list);
    }
    if (message.type === 'presence.join') list.set(message.data.user, message.data);
    else list.delete(message.data.user);
    return message.channel;
  }

  /**
   * The member lists of a `subscribed` reply (`data.members`) replace those held. With
   * `reconnected` (the re-subscribe of a new connection), what changed since is returned as the
   * frames that were missed: leaves, then joins, each in user order.
   * @param {Record<string, any> | null} data
   * @param {boolean} reconnected
   * @returns {{ changed: string[], missed: PresenceFrame[] }}
   */
  subscribed(data, reconnected) {
    /** @type {string[]} */
    const changed = [];
    /** @type {PresenceFrame[]} */
    const missed = [];
    const lists = data !== null && isObject(data.members) ? data.members : {};
    for (const [channel, page] of Object.entries(lists)) {
      if (!isObject(page) || !Array.isArray(page.members)) continue;
      /** @type {Map<string, Member>} */
      const fresh = new Map();
      for (const member of page.members) if (isMember(member)) fresh.set(member.user, member);
      const before = this.#lists.get(channel);
      this.#lists.set(channel, fresh);
      changed.push(channel);
      if (before === undefined || !reconnected) continue;
      for (const user of [...before.keys()].sort()) {
        if (!fresh.has(user)) missed.push({ type: 'presence.leave', channel, data: { user } });
      }
      for (const user of [...fresh.keys()].sort()) {
        if (!before.has(user)) {
          missed.push({ type: 'presence.join', channel, data: /** @type {Member} */ (fresh.get(user)) });
        }
      }
    }
    return { changed, missed };
  }

  /**
   * A complete list from the `presence` action.
   * @param {string} channel
   * @param {Member[]} members
   */
  replace(channel, members) {
    this.#lists.set(channel, new Map(members.filter(isMember).map((member) => [member.user, member])));
  }

  /**
   * Channels the connection left: their lists are dropped.
   * @param {string[]} held the channels still held
   * @returns {string[]} the channels whose list was dropped
   */
  keepOnly(held) {
    const dropped = [...this.#lists.keys()].filter((channel) => !held.includes(channel));
    for (const channel of dropped) this.#lists.delete(channel);
    return dropped;
  }
}
