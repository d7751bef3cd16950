/* Generated from schemas/http/voice-function-call.json by scripts/gen-types.ts. Do not edit. */

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
