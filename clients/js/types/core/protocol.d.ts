export type Position = {
  /**
   * the last message delivered (or counted as seen); 0 before the first
   */
  seq: number;
  /**
   * the channel's numbering; '' while the client has not learnt it
   * (nothing published yet)
   */
  epoch: string;
};
export type MessageMeta = {
  channel: string;
  seq: number;
  epoch: string;
  /**
   * true when the message was missed live and came from the channel's
   * history on a resume
   */
  replayed: boolean;
};
export type ResetDetail = {
  channel: string;
  /**
   * the channel's latest number: the next message delivered is `seq + 1`
   */
  seq: number;
  epoch: string;
  /**
   * the server's reason: `epoch changed`, `history expired`, `history
   * trimmed`, `ahead of the server`
   */
  reason: string;
};
export type PublishedData = {
  channel: string;
  connectionCount: number;
  sent: number;
  /**
   * on a channel with history: the message's number (it counts as
   * delivered to this client)
   */
  seq?: number;
  /**
   * on a channel with history: the numbering `seq` belongs to
   */
  epoch?: string;
};
export type Member = {
  /**
   * the token's `sub` (`connection:<id>` for an anonymous connection)
   */
  user: string;
  /**
   * the user's connections in the channel (0 while their last one
   * is in the grace period before a leave)
   */
  connections: number;
  /**
   * epoch ms of their first join
   */
  joinedAt: number;
  /**
   * from the token claim PRESENCE_INFO_CLAIM names
   */
  info?: Record<string, unknown>;
};
export type MemberPage = {
  /**
   * in user order
   */
  members: Member[];
  /**
   * the user to continue after, while there may be more
   */
  next?: string;
};
export type LaneAction = 'hello' | 'subscribe' | 'unsubscribe' | 'publish' | 'presence';
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
export declare const REPLY_TYPE: {
  readonly hello: 'welcome';
  readonly subscribe: 'subscribed';
  readonly unsubscribe: 'unsubscribed';
  readonly publish: 'published';
  readonly presence: 'presence';
};
/** The actions answered by a reply (the others, e.g. `ping`, are answered by a pong or nothing). */
export declare const LANE_ACTIONS: Set<string>;
/** The keep-alive frame. */
export declare const PING_FRAME = '{"action":"ping"}';
/**
 * @param {unknown} value
 * @returns {value is Record<string, any>}
 */
export declare function isObject(value: unknown): value is Record<string, any>;
/**
 * @param {unknown} value
 * @returns {value is number}
 */
export declare function isSeq(value: unknown): value is number;
/**
 * @param {unknown} value
 * @returns {value is Position}
 */
export declare function isPosition(value: unknown): value is Position;
/**
 * The `positions` option, checked and copied.
 * @param {unknown} positions
 * @returns {Map<string, Position>}
 */
export declare function positionMap(positions: unknown): Map<string, Position>;
/**
 * @param {unknown} channels
 * @param {string} what
 * @returns {string[]}
 */
export declare function channelList(channels: unknown, what: string): string[];
/**
 * @param {number | undefined} value
 * @param {number} fallback
 * @param {string} name
 * @param {string} [owner] who checks it, for the message
 */
export declare function nonNegative(value: number | undefined, fallback: number, name: string, owner?: string): number;
/**
 * An http(s) base URL option, checked, without query, fragment or trailing slash; null when not
 * given.
 * @param {unknown} value
 * @param {string} what the option's name, for the message
 * @returns {string | null}
 */
export declare function httpBase(value: unknown, what: string): string | null;
/**
 * A frame as the client sees it: parsed JSON, or the text itself when it is not JSON.
 * @param {unknown} data
 * @returns {unknown}
 */
export declare function parseFrame(data: unknown): unknown;
/**
 * The action a raw frame names (`send()`), or null.
 * @param {unknown} frame an object, or its JSON text
 * @returns {string | null}
 */
export declare function actionOf(frame: unknown): string | null;
/**
 * A frame that API Gateway itself sends in place of a reply
 * (`{"message":"Internal server error","connectionId":…,"requestId":…}`, `Forbidden`,
 * `Endpoint request timed out`).
 * @param {Record<string, any>} msg
 */
export declare function isGatewayErrorFrame(msg: Record<string, any>): boolean;
/**
 * Whether `message` answers a request of `action` (its reply, or an error in its place).
 * @param {Record<string, any>} message
 * @param {LaneAction} action
 */
export declare function isReplyTo(message: Record<string, any>, action: LaneAction): boolean;
/**
 * The outcome of a reply to `action`: `{ ok: true, data }`, or `{ ok: false, why }` with the
 * server's error text.
 * @param {Record<string, any>} message
 * @param {LaneAction} action
 * @returns {{ ok: true, data: any } | { ok: false, why: string }}
 */
export declare function replyOutcome(
  message: Record<string, any>,
  action: LaneAction,
):
  | {
      ok: true;
      data: any;
    }
  | {
      ok: false;
      why: string;
    };
/**
 * The server's list of the connection's channels in a `subscribed`/`unsubscribed` reply, or null.
 * @param {Record<string, any>} message
 * @returns {string[] | null}
 */
export declare function heldChannels(message: Record<string, any>): string[] | null;
/**
 * The frame of a subscribe; `since` (channel → position) only when it names a channel. It asks for
 * the members of its presence channels (the server ignores that for others).
 * @param {string[]} channels
 * @param {Record<string, Position>} since
 */
export declare function subscribeFrame(channels: string[], since: Record<string, Position>): string;
