/* Generated from schemas/http/voice-function-call-result.json by scripts/gen-types.ts. Do not edit. */

/**
 * What the hub answers a relayed FunctionCallRequest: one Deepgram FunctionCallResponse per function, in order, for the client to send to the agent verbatim. `content` is the tool's JSON result (`{"ok":true,…}` or `{"ok":false,"error":{code,message}}`) as a string.
 */
export interface VoiceFunctionCallResult {
  responses: {
    type: 'FunctionCallResponse';
    id: string;
    name: string;
    content: string;
  }[];
}
