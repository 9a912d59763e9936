export type Position = import('./protocol.js').Position;
export type MessageMeta = import('./protocol.js').MessageMeta;
export type ResetDetail = import('./protocol.js').ResetDetail;
export type Held = {
  data: unknown;
  /**
   * from a `history` frame
   */
  replayed: boolean;
  /**
   * the channel's sync count when it arrived
   */
  sync: number;
  /**
   * the client's own publish: counts as delivered, is not emitted
   */
  seen: boolean;
  /**
   * the live frame as received (emitted as is if the channel turns out
   * to have no history)
   */
  frame: unknown;
};
export type Track = {
  /**
   * the last sequence number delivered
   */
  seq: number;
  epoch: string;
  /**
   * not confirmed by the server's positions yet
   */
  provisional: boolean;
  /**
   * a subscribe for it is in flight: messages are held, not delivered
   */
  syncing: boolean;
  /**
   * how many subscribes for it were sent
   */
  sync: number;
  /**
   * messages ahead of seq + 1, by seq
   */
  held: Map<number, Held>;
  gapTimer: ReturnType<typeof setTimeout> | null;
  /**
   * a subscribe to fill a gap (or learn the epoch) is queued
   */
  fetchQueued: boolean;
};
export type SequencerHost = {
  /**
   * deliver a message
   */
  message: (message: unknown, meta: MessageMeta | null) => void;
  /**
   * tell the application of a reset
   */
  reset: (reset: ResetDetail) => void;
  /**
   * the client is closed: nothing more is delivered
   */
  stopped: () => boolean;
  /**
   * subscribe to `channel` again in
   * the background (the sequencer writes its `since`); null when it cannot now (not open)
   */
  fetch: (channel: string) => Promise<unknown> | null;
};
export type SentSubscribe = {
  channels: string[];
  /**
   * the channels it named in `since`
   */
  since: Set<string>;
};
export declare class HistorySequencer {
  #private;
  /**
   * @param {Map<string, Position>} positions where to resume from
   * @param {number} gapTimeoutMs how long a message ahead of a missing one waits before a fetch
   * @param {SequencerHost} host
   */
  constructor(positions: Map<string, Position>, gapTimeoutMs: number, host: SequencerHost);
  /**
   * Where each channel with history stands (a copy).
   * @returns {Record<string, Position>}
   */
  positions(): Record<string, Position>;
  /**
   * The frame of a subscribe, written as it is sent: `since` names the channels whose position
   * the client knows. Its channels hold their messages until the reply (see `endSubscribe`).
   * @param {string[]} channels
   * @returns {{ frame: string, sent: SentSubscribe }}
   */
  writeSubscribe(channels: string[]): {
    frame: string;
    sent: SentSubscribe;
  };
  /**
   * A subscribe written by `writeSubscribe` was answered (`data`: the `subscribed` data) or failed
   * (null). What its channels held is delivered: history and live messages in seq order, nothing
   * twice.
   * @param {SentSubscribe} sent
   * @param {Record<string, any> | null} data
   */
  endSubscribe(sent: SentSubscribe, data: Record<string, any> | null): void;
  /**
   * After an unsubscribe: the channels left are forgotten (a later subscribe starts afresh).
   * @param {string[]} held the channels the connection still holds
   */
  forgetLeft(held: string[]): void;
  /**
   * The client's own publish on a channel with history counts as delivered to it.
   * @param {Record<string, any>} data the `published` data
   */
  published(data: Record<string, any>): void;
  /**
   * A frame from the server that is not a reply: taken (true) when it is a `message`, `history`
   * or `reset` of a tracked channel, else left to the host (false).
   * @param {Record<string, any>} message
   * @returns {boolean}
   */
  take(message: Record<string, any>): boolean;
  /** After 'open': gaps and unknown epochs left from the set-up are dealt with now. */
  resume(): void;
  /** The connection is gone: nothing is in flight, no gap is waited for (the re-subscribe fills it). */
  pause(): void;
}
