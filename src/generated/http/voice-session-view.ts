/* Generated from schemas/http/voice-session-view.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;
/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId1 = string;

/**
 * A voice session as POST /voice/sessions answers it. Open `agentUrl` with the token within `token.expiresIn` seconds (browsers: `Sec-WebSocket-Protocol: bearer, <accessToken>`; others: `Authorization: Bearer <accessToken>`), send `settings` verbatim as the first message, and POST each FunctionCallRequest the agent sends to /voice/sessions/{sessionId}/function-calls until `expiresAt`. The token is a secret: never log it.
 */
export interface VoiceSessionView {
  sessionId: ObjectId;
  patientId: ObjectId;
  conversationId: ObjectId1;
  /**
   * Function calls are accepted until then.
   */
  expiresAt: string;
  /**
   * The Deepgram Voice Agent WebSocket URL.
   */
  agentUrl: string;
  token: {
    accessToken: string;
    /**
     * Seconds, as Deepgram granted.
     */
    expiresIn: number;
    expiresAt: string;
  };
  /**
   * Deepgram's `Settings` message (type, audio, agent.listen/think/speak, agent.think.prompt and functions, agent.greeting). The functions have no endpoint: Deepgram sends their calls to the client, which relays them here; those that change the record have defer_until_eot.
   */
  settings: {
    type: 'Settings';
  };
}
