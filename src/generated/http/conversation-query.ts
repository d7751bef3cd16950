/* Generated from schemas/http/conversation-query.json by scripts/gen-types.ts. Do not edit. */

/**
 * Only this patient's conversations.
 */
export type ObjectId = string;
/**
 * The nextCursor of the previous page.
 */
export type Cursor = string;
/**
 * Items per page (at most 200).
 */
export type PageSize = number;

/**
 * GET /api/v1/conversations: conversations the caller may read, newest first; optionally those of one patient.
 */
export interface ConversationQuery {
  patientId?: ObjectId;
  cursor?: Cursor;
  limit?: PageSize;
}
