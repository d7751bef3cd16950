/* Generated from schemas/http/conversation-view.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * A conversation as the API returns it.
 */
export interface ConversationView {
  id: ObjectId;
  organisationId: ObjectId;
  patientId: ObjectId;
  /**
   * Null when none was given.
   */
  title: string | null;
  /**
   * Where the conversation happens.
   */
  channel: 'app' | 'voice' | 'device';
  /**
   * Users who created the conversation or wrote in it.
   *
   * @maxItems 1000
   */
  participants: ObjectId[];
  createdBy: ObjectId;
  /**
   * User and assistant messages so far.
   */
  messageCount: number;
  /**
   * When the last message was written.
   */
  lastMessageAt: string | null;
  createdAt: string;
  updatedAt: string;
}
