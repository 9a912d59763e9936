export type LaneAction = import('./core/protocol.js').LaneAction;
export type SentSubscribe = import('./core/sequencer.js').SentSubscribe;
export type PendingRequest = {
  /**
   * the JSON text to send
   */
  frame: string;
  /**
   * what reply it waits for; null for a frame that waits for
   * nothing
   */
  action: LaneAction | null;
  /**
   * sent by the client itself while setting a connection up
   */
  internal: boolean;
  /**
   * sent with send(): its reply also goes to 'message' listeners
   */
  raw: boolean;
  /**
   * a raw `{"action":"ping"}`, answered by a pong
   */
  ping: boolean;
  /**
   * the channels of a subscribe made by the client (its frame,
   * with `since`, is written when it is sent)
   */
  subscribe: string[] | null;
  /**
   * that subscribe as written, until its reply
   */
  sent: SentSubscribe | null;
  /**
   * a gap fetch: dropped when the connection is lost (the
   * re-subscribe fetches everything anyway)
   */
  background: boolean;
  resolve: (value: any) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout> | null;
};
export type LaneHost = {
  /**
   * the socket it may write to once open, or null
   */
  socket: () => any;
  /**
   * the client reported 'open': the application's requests may go
   */
  open: () => boolean;
  /**
   * the
   * frame of a subscribe, written as it is sent
   */
  writeSubscribe: (channels: string[]) => {
    frame: string;
    sent: SentSubscribe;
  };
  /**
   * a
   * subscribe written by writeSubscribe was answered (its data) or failed (null)
   */
  endSubscribe: (sent: SentSubscribe, data: Record<string, any> | null) => void;
  /**
   * a raw ping went out: its pong is owed to the application
   */
  pingSent: () => void;
  /**
   * a
   * request succeeded, before its promise resolves
   */
  answered: (entry: PendingRequest, message: Record<string, any>, data: any) => void;
  /**
   * the reply to a raw frame
   */
  rawReply: (message: Record<string, any>) => void;
  /**
   * a set-up request had no reply: the
   * connection is of no use
   */
  setUpTimedOut: (entry: PendingRequest) => void;
};
/** @typedef {import('./core/protocol.js').LaneAction} LaneAction */
/** @typedef {import('./core/sequencer.js').SentSubscribe} SentSubscribe */
/**
 * @typedef {object} PendingRequest
 * @property {string} frame the JSON text to send
 * @property {LaneAction | null} action what reply it waits for; null for a frame that waits for
 *   nothing
 * @property {boolean} internal sent by the client itself while setting a connection up
 * @property {boolean} raw sent with send(): its reply also goes to 'message' listeners
 * @property {boolean} ping a raw `{"action":"ping"}`, answered by a pong
 * @property {string[] | null} subscribe the channels of a subscribe made by the client (its frame,
 *   with `since`, is written when it is sent)
 * @property {SentSubscribe | null} sent that subscribe as written, until its reply
 * @property {boolean} background a gap fetch: dropped when the connection is lost (the
 *   re-subscribe fetches everything anyway)
 * @property {(value: any) => void} resolve
 * @property {(error: Error) => void} reject
 * @property {ReturnType<typeof setTimeout> | null} timer
 */
/**
 * @typedef {object} LaneHost what the lane asks of the client around it
 * @property {() => any} socket the socket it may write to once open, or null
 * @property {() => boolean} open the client reported 'open': the application's requests may go
 * @property {(channels: string[]) => { frame: string, sent: SentSubscribe }} writeSubscribe the
 *   frame of a subscribe, written as it is sent
 * @property {(sent: SentSubscribe, data: Record<string, any> | null) => void} endSubscribe a
 *   subscribe written by writeSubscribe was answered (its data) or failed (null)
 * @property {() => void} pingSent a raw ping went out: its pong is owed to the application
 * @property {(entry: PendingRequest, message: Record<string, any>, data: any) => void} answered a
 *   request succeeded, before its promise resolves
 * @property {(message: Record<string, any>) => void} rawReply the reply to a raw frame
 * @property {(entry: PendingRequest) => void} setUpTimedOut a set-up request had no reply: the
 *   connection is of no use
 */
export declare class RequestLane {
  #private;
  /**
   * @param {number} maxQueue requests and frames of the application that may wait
   * @param {number} requestTimeoutMs how long a request waits for its reply
   * @param {LaneHost} host
   */
  constructor(maxQueue: number, requestTimeoutMs: number, host: LaneHost);
  /** @param {string} what */
  checkRoom(what: string): void;
  /**
   * Queue a request; it resolves with its reply's data.
   * @param {Record<string, unknown>} message
   * @param {LaneAction} action
   * @param {boolean} internal a set-up request (goes first)
   * @param {boolean} [background] a gap fetch (see PendingRequest)
   * @returns {Promise<any>}
   */
  request(message: Record<string, unknown>, action: LaneAction, internal: boolean, background?: boolean): Promise<any>;
  /**
   * Queue a raw frame of the application (`send()`).
   * @param {string} text
   * @param {LaneAction | null} action the request it is, if any (its reply is then waited for)
   * @param {boolean} ping
   */
  raw(text: string, action: LaneAction | null, ping: boolean): void;
  /** Send what can be sent: frames in call order, one request at a time. */
  pump(): void;
  /**
   * A frame from the server: taken (true) when it answers the request in flight.
   * @param {Record<string, any>} message
   * @returns {boolean}
   */
  reply(message: Record<string, any>): boolean;
  /**
   * The connection is lost: gap fetches and set-up requests fail; a subscribe or unsubscribe in
   * flight is sent again on the next connection (idempotent); a publish in flight fails, as it
   * may or may not have reached the server.
   */
  connectionLost(): void;
  /**
   * Reject everything in flight and waiting (the client is closed).
   * @param {Error} error
   */
  rejectAll(error: Error): void;
}
