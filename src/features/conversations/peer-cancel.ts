/**
 * chat:cancel across hub instances. A cancel reaches whichever instance the client is connected to,
 * while the answer runs on the instance that started it (it holds the conversation's claim, see
 * claims.ts): the first asks its peers (the Socket.IO adapter, Redis), the one running the answer
 * cancels it and replies whether it could, and the first acks the client with that.
 */
import { randomUUID } from 'node:crypto';
import type { SocketTransport } from '../../transports/socket/server.js';

const CANCEL = 'peer:chat-cancel';
const CANCEL_RESULT = 'peer:chat-cancel-result';
/** No reply by then: no instance runs the answer any more (it ended, or its hub stopped). */
const REPLY_MS = 2000;

export type Peers = Pick<SocketTransport, 'toPeers' | 'onPeer'>;

/** Cancels an answer if it runs on this instance: whether it could, or undefined when it is not here. */
export type CancelHere = (conversationId: string, messageId: string) => boolean | undefined;

export interface PeerCancel {
  /** Whether the instance running the answer cancelled it; false when none replied in time. */
  cancel(conversationId: string, messageId: string): Promise<boolean>;
}

export function createPeerCancel(peers: Peers, cancelHere: CancelHere): PeerCancel {
  const waiting = new Map<string, (cancelled: boolean) => void>();

  peers.onPeer(CANCEL, ({ requestId, conversationId, messageId }) => {
    if (typeof requestId !== 'string' || typeof conversationId !== 'string' || typeof messageId !== 'string') return;
    const cancelled = cancelHere(conversationId, messageId);
    // Only the instance running the answer knows; the others stay silent.
    if (cancelled !== undefined) peers.toPeers(CANCEL_RESULT, { requestId, cancelled });
  });
  peers.onPeer(CANCEL_RESULT, ({ requestId, cancelled }) => {
    if (typeof requestId === 'string') waiting.get(requestId)?.(cancelled === true);
  });

  return {
    cancel(conversationId, messageId) {
      const requestId = randomUUID();
      return new Promise((resolve) => {
        const timer = setTimeout(() => settle(false), REPLY_MS);
        timer.unref();
        function settle(cancelled: boolean): void {
          clearTimeout(timer);
          waiting.delete(requestId);
          resolve(cancelled);
        }
        waiting.set(requestId, settle);
        peers.toPeers(CANCEL, { requestId, conversationId, messageId });
      });
    },
  };
}
