export type Member = import('./protocol.js').Member;
export type PresenceFrame = {
  type: 'presence.join' | 'presence.leave';
  channel: string;
  data:
    | Member
    | {
        user: string;
      };
};
export declare class PresenceTracker {
  #private;
  /**
   * The members of `channel`, in user order (a copy); empty for a channel without presence.
   * @param {string} channel
   * @returns {Member[]}
   */
  members(channel: string): Member[];
  /**
   * A frame from the server: a `presence.join` / `presence.leave` updates its channel's list.
   * @param {Record<string, any>} message
   * @returns {string | null} the channel whose list changed, or null
   */
  observe(message: Record<string, any>): string | null;
  /**
   * The member lists of a `subscribed` reply (`data.members`) replace those held. With
   * `reconnected` (the re-subscribe of a new connection), what changed since is returned as the
   * frames that were missed: leaves, then joins, each in user order.
   * @param {Record<string, any> | null} data
   * @param {boolean} reconnected
   * @returns {{ changed: string[], missed: PresenceFrame[] }}
   */
  subscribed(
    data: Record<string, any> | null,
    reconnected: boolean,
  ): {
    changed: string[];
    missed: PresenceFrame[];
  };
  /**
   * A complete list from the `presence` action.
   * @param {string} channel
   * @param {Member[]} members
   */
  replace(channel: string, members: Member[]): void;
  /**
   * Channels the connection left: their lists are dropped.
   * @param {string[]} held the channels still held
   * @returns {string[]} the channels whose list was dropped
   */
  keepOnly(held: string[]): string[];
}
