/* Generated from schemas/http/voice-transcript.json by scripts/gen-types.ts. Do not edit. */

/**
 * Lines of a voice session's transcript (POST /voice/sessions/{id}/transcript): each ConversationText message the agent sent, numbered by the client from 0 in the order received. Stored in the session's conversation, each number once: sending lines again is harmless.
 */
export interface VoiceTranscript {
  /**
   * @minItems 1
   * @maxItems 50
   */
  lines: [
    {
      seq: number;
      /**
       * Deepgram's message type, if the client passes the message as it came.
       */
      type?: 'ConversationText';
      role: 'user' | 'assistant';
      content: string;
    },
    ...{
      seq: number;
      /**
       * Deepgram's message type, if the client passes the message as it came.
       */
      type?: 'ConversationText';
      role: 'user' | 'assistant';
      content: string;
    }[]
  ];
}
