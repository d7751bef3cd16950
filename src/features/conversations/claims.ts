/**
 * One answer at a time per conversation, across hub instances. The instance that starts an answer
 * claims the conversation's turn in the store (`activeMessageId`, with an expiry `activeUntil`) by a
 * conditional update, so two instances cannot both win; the running turn extends the claim as it
 * keeps alive (turn.ts KEEP_ALIVE_MS) and gives it up once its answer is stored. A claim whose
 * instance stopped lapses after CLAIM_MS, so the conversation takes messages again.
 */
import type { Types } from 'mongoose';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import type { ConversationDoc, ConversationModels } from './models.js';

/** Four keep-alives: a slow store may delay one or two without the claim lapsing under a live answer. */
export const CLAIM_MS = 60_000;

export interface TurnClaims {
  /** Claims the conversation's turn for `messageId`; false when another answer holds it. */
  claim(conversationId: Types.ObjectId, messageId: Types.ObjectId): Promise<boolean>;
  /** Extends the claim from `now`; false when `messageId` no longer holds it (it lapsed and another answer took the turn). */
  extend(conversationId: Types.ObjectId, messageId: Types.ObjectId, now: Date): Promise<boolean>;
  /** Gives the turn up, if `messageId` still holds it. Never rejects: a claim left behind lapses. */
  release(conversationId: Types.ObjectId, messageId: Types.ObjectId): Promise<void>;
  /** The answer whose claim on the conversation (as read) is current, if any. */
  holder(conversation: ConversationDoc): string | null;
}

export function createTurnClaims({ Conversation }: ConversationModels, clock: Clock, logger: Logger): TurnClaims {
  const until = (now: Date): Date => new Date(now.getTime() + CLAIM_MS);
  return {
    async claim(conversationId, messageId) {
      const now = clock.now();
      const result = await Conversation.updateOne(
        { _id: conversationId, $or: [{ activeMessageId: null }, { activeUntil: { $lte: now } }] },
        { $set: { activeMessageId: messageId, activeUntil: until(now) } },
      );
      return result.modifiedCount === 1;
    },

    async extend(conversationId, messageId, now) {
      const result = await Conversation.updateOne({ _id: conversationId, activeMessageId: messageId }, { $set: { activeUntil: until(now) } });
      return result.matchedCount === 1;
    },

    async release(conversationId, messageId) {
      try {
        await Conversation.updateOne({ _id: conversationId, activeMessageId: messageId }, { $set: { activeMessageId: null, activeUntil: null } });
      } catch (error) {
        logger.warn({ err: error instanceof Error ? error.name : typeof error, conversationId: String(conversationId) }, 'could not release the conversation; its claim will lapse');
      }
    },

    holder(conversation) {
      const { activeMessageId, activeUntil } = conversation;
      if (!activeMessageId || !activeUntil || activeUntil.getTime() <= clock.now().getTime()) return null;
      return String(activeMessageId);
    },
  };
}
