/* Generated from schemas/http/alert-ack.json by scripts/gen-types.ts. Do not edit. */

/**
 * Acknowledge an alert (stops its escalation). The body may be empty.
 */
export interface AlertAck {
  /**
   * Optional note, seen only inside the hub.
   */
  note?: string;
}
