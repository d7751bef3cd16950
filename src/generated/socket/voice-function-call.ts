/* Generated from schemas/socket/voice-function-call.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * Client → server `voice:function_call`: relay a FunctionCallRequest of a voice session over the socket, as POST /voice/sessions/{id}/function-calls does over HTTP (the same checks, each call once). Acked {ok:true, responses:[FunctionCallResponse…]} or {ok:false, error:{code,message}}.
 */
export interface VoiceFunctionCall {
  sessionId: ObjectId;
  request: VoiceFunctionCallRequest;
}
/**
 * Deepgram's FunctionCallRequest, relayed verbatim by the voice client (POST /voice/sessions/{id}/function-calls). Each function is run once per id: relaying the same id again answers what the first run answered.
 */
export interface VoiceFunctionCallRequest {
  type: 'FunctionCallRequest';
  /**
   * @minItems 1
   * @maxItems 8
   */
  functions: [
    {
      id: string;
      name: string;
      /**
       * The function's arguments as a JSON string, as Deepgram sends them.
       */
      arguments: string;
      client_side?: boolean;
    },
    ...{
      id: string;
      name: string;
      /**
       * The function's arguments as a JSON string, as Deepgram sends them.
       */
      arguments: string;
      client_side?: boolean;
    }[]
  ];
}
