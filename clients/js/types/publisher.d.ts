export {
  BadRequest,
  BroadcastNotFound,
  BroadcastPending,
  ConnectionGone,
  DeliveryFailed,
  TransportError,
  Unauthorized,
  Unavailable,
  WsBridgeApiError,
} from './api-errors.js';
export type DeliveryReport = import('./core/http-api.js').DeliveryReport;
export type AsyncBroadcast = import('./core/http-api.js').AsyncBroadcast;
export type AsyncBroadcastReport = import('./core/http-api.js').AsyncBroadcastReport;
export type FailedDelivery = import('./core/http-api.js').FailedDelivery;
export type Stats = import('./core/http-api.js').Stats;
export type ChannelStats = import('./core/http-api.js').ChannelStats;
export type RetryBackoff = import('./core/http-api.js').RetryBackoff;
export type PublisherOptions = {
  /**
   * the stage URL of the HTTP API: `http://127.0.0.1:3001/dev` locally,
   * the stack's `HttpApiUrl` on AWS
   */
  baseUrl: string;
  /**
   * the API token (`Authorization: Bearer`), if the gateway requires one
   */
  token?: string | null;
  /**
   * how long one request may take, answer included (default 10000);
   * a message whose answer did not come in time is not re-sent (it may have been delivered)
   */
  timeoutMs?: number;
  /**
   * re-sends at most, only of a request that never reached the gateway
   * or of a 503 that says nothing was sent (default 2)
   */
  retries?: number;
  /**
   * the delays between them (default 100 ms doubling
   * to 2 s, full jitter)
   */
  backoff?: Partial<RetryBackoff>;
  /**
   * how long `broadcast` and `publish` follow a broadcast the
   * gateway chose to deliver asynchronously (202, when its `BROADCAST_ASYNC_THRESHOLD` is set) to
   * its final report (default 60000; 0 reads it once); past it they reject with BroadcastPending
   */
  followTimeoutMs?: number;
  /**
   * the fetch to use (default `globalThis.fetch`)
   */
  fetch?: typeof fetch;
};
export type CallOptions = {
  /**
   * abort the call (the publisher's own timeout still applies)
   */
  signal?: AbortSignal;
};
export type WaitOptions = {
  /**
   * reject with BroadcastPending after this long (default 60000)
   */
  timeoutMs?: number;
  /**
   * the longest pause between two reads (default 1000; 50 ms at first,
   * doubling)
   */
  pollMs?: number;
  /**
   * abort the wait
   */
  signal?: AbortSignal;
};
/** The publisher of ws-bridge's HTTP API. Safe to share: one per process is enough. */
export declare class WsBridgePublisher {
  #private;
  /** @param {PublisherOptions} options */
  constructor(options: PublisherOptions);
  /**
   * One message to every open connection. Resolves to the DeliveryReport; if the gateway chose
   * to deliver asynchronously (202), to the completed AsyncBroadcastReport (counts, with its
   * `broadcastId`), followed for at most `followTimeoutMs`, else rejects with BroadcastPending.
   * @param {Record<string, unknown>} event a JSON object, delivered verbatim
   * @param {CallOptions} [options]
   * @returns {Promise<DeliveryReport | AsyncBroadcastReport>}
   */
  broadcast(event: Record<string, unknown>, options?: CallOptions): Promise<DeliveryReport | AsyncBroadcastReport>;
  /**
   * One message to a channel's subscribers; on a channel with history the report has its `seq`
   * and `epoch`. A 202 is followed as `broadcast` does.
   * @param {string} channel
   * @param {Record<string, unknown>} event
   * @param {CallOptions} [options]
   * @returns {Promise<DeliveryReport | AsyncBroadcastReport>}
   */
  publish(
    channel: string,
    event: Record<string, unknown>,
    options?: CallOptions,
  ): Promise<DeliveryReport | AsyncBroadcastReport>;
  /**
   * One message to every open connection, asynchronously (`Prefer: respond-async`): resolves at
   * once to the accepted AsyncBroadcast (its `broadcastId` for `waitForBroadcast`). A gateway
   * without a queue may ignore the preference, as RFC 7240 allows, and deliver at once: the
   * DeliveryReport is then returned.
   * @param {Record<string, unknown>} event
   * @param {CallOptions} [options]
   * @returns {Promise<AsyncBroadcast | DeliveryReport>}
   */
  broadcastAsync(event: Record<string, unknown>, options?: CallOptions): Promise<AsyncBroadcast | DeliveryReport>;
  /**
   * One message to a channel's subscribers, asynchronously (as `broadcastAsync`); on a channel
   * with history the AsyncBroadcast has its `seq` and `epoch`.
   * @param {string} channel
   * @param {Record<string, unknown>} event
   * @param {CallOptions} [options]
   * @returns {Promise<AsyncBroadcast | DeliveryReport>}
   */
  publishAsync(
    channel: string,
    event: Record<string, unknown>,
    options?: CallOptions,
  ): Promise<AsyncBroadcast | DeliveryReport>;
  /**
   * An asynchronous broadcast's report so far, or the final one (`status: 'completed'`);
   * BroadcastNotFound for an unknown id.
   * @param {string} broadcastId
   * @param {CallOptions} [options]
   * @returns {Promise<AsyncBroadcastReport>}
   */
  broadcastReport(broadcastId: string, options?: CallOptions): Promise<AsyncBroadcastReport>;
  /**
   * Reads the report until the broadcast is completed (resolved), at most every `pollMs` (sooner
   * at first); rejects with BroadcastPending after `timeoutMs`, BroadcastNotFound for an unknown id.
   * @param {string} broadcastId
   * @param {WaitOptions} [options]
   * @returns {Promise<AsyncBroadcastReport>}
   */
  waitForBroadcast(broadcastId: string, options?: WaitOptions): Promise<AsyncBroadcastReport>;
  /**
   * One message to every connection of a user (the token's `sub`).
   * @param {string} userId
   * @param {Record<string, unknown>} event
   * @param {CallOptions} [options]
   * @returns {Promise<DeliveryReport>}
   */
  sendToUser(userId: string, event: Record<string, unknown>, options?: CallOptions): Promise<DeliveryReport>;
  /**
   * One message to one connection: ConnectionGone when it no longer exists, DeliveryFailed when
   * it could not take it.
   * @param {string} connectionId
   * @param {Record<string, unknown>} event
   * @param {CallOptions} [options]
   * @returns {Promise<DeliveryReport>}
   */
  sendToConnection(
    connectionId: string,
    event: Record<string, unknown>,
    options?: CallOptions,
  ): Promise<DeliveryReport>;
  /**
   * Open connections, or a channel's subscribers.
   * @param {string} [channel]
   * @param {CallOptions} [options]
   * @returns {Promise<number>}
   */
  count(channel?: string, options?: CallOptions): Promise<number>;
  /**
   * Connections and channels, largest first, at most `limit` channels (1 to 1000).
   * @param {number} [limit]
   * @param {CallOptions} [options]
   * @returns {Promise<Stats>}
   */
  stats(limit?: number, options?: CallOptions): Promise<Stats>;
}
