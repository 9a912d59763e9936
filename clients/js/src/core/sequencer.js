// The history sequencer: on channels with history it turns live `message` frames, `history`
// replays and `reset`s into each message delivered once, in seq order, or a reset. It owns the
// positions a resume names in `since`. No sockets here: the host delivers what it hands over and
// sends the gap fetches it asks for; its only clock is the gap timer.
//
// SPDX-License-Identifier: MIT OR Apache-2.0

import { isObject, isPosition, isSeq, subscribeFrame } from './protocol.js';

/** @typedef {import('./protocol.js').Position} Position */
/** @typedef {import('./protocol.js').MessageMeta} MessageMeta */
/** @typedef {import('./protocol.js').ResetDetail} ResetDetail */

/**
 * @typedef {object} Held a message waiting for the ones before it
 * @property {unknown} data
 * @property {boolean} replayed from a `history` frame
 * @property {number} sync the channel's sync count when it arrived
 * @property {boolean} seen the client's own publish: counts as delivered, is not emitted
 * @property {unknown} frame the live frame as received (emitted as is if the channel turns out
 *   to have no history)
 */

/**
 * @typedef {object} Track the client's state of one channel with history (or, `provisional`,
 *   of a channel being subscribed that may have history)
 * @property {number} seq the last sequence number delivered
 * @property {string} epoch
 * @property {boolean} provisional not confirmed by the server's positions yet
 * @property {boolean} syncing a subscribe for it is in flight: messages are held, not delivered
 * @property {number} sync how many subscribes for it were sent
 * @property {Map<number, Held>} held messages ahead of seq + 1, by seq
 * @property {ReturnType<typeof setTimeout> | null} gapTimer
 * @property {boolean} fetchQueued a subscribe to fill a gap (or learn the epoch) is queued
 */

/**
 * @typedef {object} SequencerHost what the sequencer asks of the client around it
 * @property {(message: unknown, meta: MessageMeta | null) => void} message deliver a message
 * @property {(reset: ResetDetail) => void} reset tell the application of a reset
 * @property {() => boolean} stopped the client is closed: nothing more is delivered
 * @property {(channel: string) => Promise<unknown> | null} fetch subscribe to `channel` again in
 *   the background (the sequencer writes its `since`); null when it cannot now (not open)
 */

/**
 * @typedef {object} SentSubscribe a subscribe written by the sequencer, until its reply
 * @property {string[]} channels
 * @property {Set<string>} since the channels it named in `since`
 */

/**
 * @param {number} seq
 * @param {string} epoch
 * @param {boolean} provisional
 * @returns {Track}
 */
function newTrack(seq, epoch, provisional) {
  return { seq, epoch, provisional, syncing: false, sync: 0, held: new Map(), gapTimer: null, fetchQueued: false };
}

/**
 * What a subscribe names in `since` for a channel: its position, or, before the client knows the
 * numbering (no epoch yet), `{seq: 0, epoch: ''}`, which the server matches with any epoch
 * (the replay from seq 1 is deduplicated).
 * @param {Track} track
 * @returns {Position}
 */
function sinceOf(track) {
  return track.epoch === '' ? { seq: 0, epoch: '' } : { seq: track.seq, epoch: track.epoch };
}

export class HistorySequencer {
  /** Channels with history (and channels being subscribed that may have it), by name. */
  /** @type {Map<string, Track>} */ #tracks = new Map();
  /** @type {number} */ #gapTimeoutMs;
  /** @type {SequencerHost} */ #host;

  /**
   * @param {Map<string, Position>} positions where to resume from
   * @param {number} gapTimeoutMs how long a message ahead of a missing one waits before a fetch
   * @param {SequencerHost} host
   */
  constructor(positions, gapTimeoutMs, host) {
    this.#gapTimeoutMs = gapTimeoutMs;
    this.#host = host;
    for (const [channel, { seq, epoch }] of positions) this.#tracks.set(channel, newTrack(seq, epoch, false));
  }

  /**
   * Where each channel with history stands (a copy).
   * @returns {Record<string, Position>}
   */
  positions() {
    /** @type {Record<string, Position>} */
    const positions = {};
    for (const [channel, track] of this.#tracks) {
      if (!track.provisional) positions[channel] = { seq: track.seq, epoch: track.epoch };
    }
    return positions;
  }

  /**
   * The frame of a subscribe, written as it is sent: `since` names the channels whose position
   * the client knows. Its channels hold their messages until the reply (see `endSubscribe`).
   * @param {string[]} channels
   * @returns {{ frame: string, sent: SentSubscribe }}
   */
  writeSubscribe(channels) {
    /** @type {Record<string, Position>} */
    const since = {};
    /** @type {SentSubscribe} */
    const sent = { channels, since: new Set() };
    for (const channel of channels) {
      let track = this.#tracks.get(channel);
      if (track === undefined) {
        // It may have history: its messages are held until the reply says.
        track = newTrack(0, '', true);
        this.#tracks.set(channel, track);
      } else if (!track.provisional) {
        since[channel] = sinceOf(track);
        sent.since.add(channel);
      }
      track.syncing = true;
      track.sync += 1;
    }
    return { frame: subscribeFrame(channels, since), sent };
  }

  /**
   * A subscribe written by `writeSubscribe` was answered (`data`: the `subscribed` data) or failed
   * (null). What its channels held is delivered: history and live messages in seq order, nothing
   * twice.
   * @param {SentSubscribe} sent
   * @param {Record<string, any> | null} data
   */
  endSubscribe(sent, data) {
    const positions = data !== null && isObject(data.positions) ? data.positions : {};
    for (const channel of sent.channels) {
      const track = this.#tracks.get(channel);
      if (track === undefined || !track.syncing) continue;
      track.syncing = false;
      const position = positions[channel];
      if (isPosition(position)) {
        track.provisional = false;
        if (position.epoch !== '') track.epoch = position.epoch;
        if (!sent.since.has(channel)) {
          // A first subscribe: the application starts after what the channel held then.
          track.seq = position.seq;
        } else {
          // Everything up to the server's latest was sent in `history` frames (or a `reset`
          // said it cannot be): what is still missing up to there never comes, so it is not
          // waited for.
          const upTo = [...track.held.keys()].filter((seq) => seq <= position.seq).sort((a, b) => a - b);
          for (const seq of upTo) {
            const held = /** @type {Held} */ (track.held.get(seq));
            track.held.delete(seq);
            if (seq <= track.seq) continue;
            track.seq = seq;
            this.#deliver(channel, track, held);
            if (this.#tracks.get(channel) !== track || this.#host.stopped()) return;
          }
          track.seq = Math.max(track.seq, position.seq);
        }
        this.#drain(channel, track);
      } else if (data !== null || track.provisional) {
        // No history on this channel (or the subscribe failed): nothing to track; frames held
        // meanwhile go out as they came.
        this.#dropTrack(channel, track);
        const frames = [...track.held.values()].filter((h) => !h.replayed && !h.seen).map((h) => h.frame);
        for (const frame of frames) this.#host.message(frame, null);
      } else {
        this.#drain(channel, track);
      }
    }
  }

  /**
   * After an unsubscribe: the channels left are forgotten (a later subscribe starts afresh).
   * @param {string[]} held the channels the connection still holds
   */
  forgetLeft(held) {
    for (const [channel, track] of [...this.#tracks]) {
      if (!track.syncing && !held.includes(channel)) this.#dropTrack(channel, track);
    }
  }

  /**
   * The client's own publish on a channel with history counts as delivered to it.
   * @param {Record<string, any>} data the `published` data
   */
  published(data) {
    const channel = data.channel;
    const track = typeof channel === 'string' ? this.#tracks.get(channel) : undefined;
    if (track === undefined || track.provisional || !isSeq(data.seq) || typeof data.epoch !== 'string') return;
    if (track.epoch === '') track.epoch = data.epoch;
    if (data.epoch !== track.epoch) return;
    if (data.seq > track.seq && !track.held.has(data.seq)) {
      track.held.set(data.seq, { data: undefined, replayed: false, sync: track.sync, seen: true, frame: null });
    }
    this.#drain(channel, track);
  }

  /**
   * A frame from the server that is not a reply: taken (true) when it is a `message`, `history`
   * or `reset` of a tracked channel, else left to the host (false).
   * @param {Record<string, any>} message
   * @returns {boolean}
   */
  take(message) {
    if (typeof message.channel !== 'string') return false;
    const channel = message.channel;
    const track = this.#tracks.get(channel);
    if (track === undefined) return false;
    if (message.type === 'message' && isSeq(message.seq) && message.seq > 0) {
      this.#onLive(channel, track, message.seq, message.data, message);
      return true;
    }
    if (message.type === 'history' && Array.isArray(message.messages)) {
      this.#onHistory(channel, track, message.messages);
      return true;
    }
    if (message.type === 'reset' && isSeq(message.seq) && typeof message.epoch === 'string') {
      this.#onReset(channel, track, message.seq, message.epoch, String(message.reason ?? ''));
      return true;
    }
    return false;
  }

  /** After 'open': gaps and unknown epochs left from the set-up are dealt with now. */
  resume() {
    for (const [channel, track] of [...this.#tracks]) {
      if (!track.syncing) this.#drain(channel, track);
    }
  }

  /** The connection is gone: nothing is in flight, no gap is waited for (the re-subscribe fills it). */
  pause() {
    for (const track of this.#tracks.values()) {
      track.syncing = false;
      if (track.gapTimer !== null) clearTimeout(track.gapTimer);
      track.gapTimer = null;
    }
  }

  /**
   * @param {string} channel
   * @param {Track} track
   */
  #dropTrack(channel, track) {
    if (track.gapTimer !== null) clearTimeout(track.gapTimer);
    track.gapTimer = null;
    if (this.#tracks.get(channel) === track) this.#tracks.delete(channel);
  }

  /**
   * @param {string} channel
   * @param {Track} track
   * @param {number} seq
   * @param {unknown} data
   * @param {unknown} frame
   */
  #onLive(channel, track, seq, data, frame) {
    const held = track.held.get(seq);
    // During a resume a number at or below the position may be new: a reset with a new epoch
    // can still come. Until the reply, what arrives now is kept (see #onReset).
    const fresh = seq > track.seq || track.syncing;
    if (fresh && (held === undefined || (track.syncing && held.sync !== track.sync))) {
      track.held.set(seq, { data, replayed: false, sync: track.sync, seen: false, frame });
    }
    this.#drain(channel, track);
  }

  /**
   * @param {string} channel
   * @param {Track} track
   * @param {unknown[]} messages
   */
  #onHistory(channel, track, messages) {
    for (const message of messages) {
      if (!isObject(message) || !isSeq(message.seq)) continue;
      if (message.seq <= track.seq || track.held.has(message.seq)) continue;
      track.held.set(message.seq, { data: message.data, replayed: true, sync: track.sync, seen: false, frame: null });
    }
    this.#drain(channel, track);
  }

  /**
   * The server cannot fill the gap since the client's position: the application is told, then
   * delivery goes on from the server's latest.
   * @param {string} channel
   * @param {Track} track
   * @param {number} seq
   * @param {string} epoch
   * @param {string} reason
   */
  #onReset(channel, track, seq, epoch, reason) {
    const renumbered = epoch !== track.epoch;
    for (const [heldSeq, held] of [...track.held]) {
      // After a new epoch only what arrived during this subscribe is numbered the new way.
      if (heldSeq <= seq || (renumbered && held.sync !== track.sync)) track.held.delete(heldSeq);
    }
    track.seq = seq;
    track.epoch = epoch;
    track.provisional = false;
    this.#host.reset({ channel, seq, epoch, reason });
    if (this.#tracks.get(channel) === track && !this.#host.stopped()) this.#drain(channel, track);
  }

  /**
   * @param {string} channel
   * @param {Track} track its `seq` is the held message's
   * @param {Held} held
   */
  #deliver(channel, track, held) {
    if (held.seen) return;
    this.#host.message(held.data, { channel, seq: track.seq, epoch: track.epoch, replayed: held.replayed });
  }

  /**
   * Deliver what follows the channel's position without a hole; wait `gapTimeoutMs` for a
   * missing message, then fetch it from history.
   * @param {string} channel
   * @param {Track} track
   */
  #drain(channel, track) {
    if (track.syncing || this.#host.stopped()) return;
    for (;;) {
      const held = track.held.get(track.seq + 1);
      if (held === undefined) break;
      track.held.delete(track.seq + 1);
      track.seq += 1;
      this.#deliver(channel, track, held);
      // A listener may have closed the client or left the channel.
      if (this.#tracks.get(channel) !== track || this.#host.stopped() || track.syncing) return;
    }
    for (const seq of [...track.held.keys()]) if (seq <= track.seq) track.held.delete(seq);
    if (track.held.size === 0) {
      if (track.gapTimer !== null) clearTimeout(track.gapTimer);
      track.gapTimer = null;
    } else if (track.gapTimer === null) {
      track.gapTimer = setTimeout(() => {
        track.gapTimer = null;
        if (this.#tracks.get(channel) === track && track.held.size > 0) this.#fetch(channel, track);
      }, this.#gapTimeoutMs);
    }
    // Messages came before the client knew the channel's epoch (nothing was published when it
    // subscribed): learn it now, or the next resume would not be able to name its position.
    if (track.epoch === '' && !track.provisional && track.seq > 0) this.#fetch(channel, track);
  }

  /**
   * Subscribe again with `since` (idempotent for the subscription) to fetch a gap from history
   * or to learn the epoch. Only while open: a re-subscribe after a reconnect does it anyway.
   * @param {string} channel
   * @param {Track} track
   */
  #fetch(channel, track) {
    if (track.fetchQueued || track.syncing) return;
    const fetched = this.#host.fetch(channel);
    if (fetched === null) return;
    track.fetchQueued = true;
    fetched
      .catch(() => {
        // Lost with the connection (the re-subscribe fetches) or refused (nothing to wait for).
      })
      .finally(() => {
        track.fetchQueued = false;
      });
  }
}
