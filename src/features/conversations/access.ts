/**
 * Access to a conversation is access to its patient: the policy decides, with the conversation's
 * patient and the action (`conversation.read` to watch and read, `conversation.write` to write and
 * cancel). A conversation the caller may not see does not exist for them (404, never 403).
 */
import { Types } from 'mongoose';
import { AppError, notFound } from '../../errors.js';
import type { PatientDoc } from '../identity/models.js';
import type { Policy } from '../identity/policy.js';
import type { UserPrincipal } from '../identity/principal.js';
import type { ConversationDoc, ConversationModels } from './models.js';

export type ConversationAction = 'conversation.read' | 'conversation.write';

export interface ConversationAccess {
  conversation: ConversationDoc;
  patient: PatientDoc;
}

export type AssertConversation = (principal: UserPrincipal, conversationId: string, action: ConversationAction) => Promise<ConversationAccess>;

export function createConversationAccess(models: ConversationModels, policy: Policy): AssertConversation {
  return async function assertConversation(principal, conversationId, action) {
    const conversation = Types.ObjectId.isValid(conversationId) ? await models.Conversation.findById(conversationId).lean<ConversationDoc>() : null;
    if (!conversation || String(conversation.organisationId) !== principal.organisationId) throw notFound('Conversation');
    try {
      const patient = await policy.assertPatient(principal, String(conversation.patientId), action);
      return { conversation, patient };
    } catch (error) {
      if (error instanceof AppError && error.status === 404) throw notFound('Conversation');
      throw error;
    }
  };
}
