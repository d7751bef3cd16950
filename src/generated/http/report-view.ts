/* Generated from schemas/http/report-view.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * What a patient reported: a symptom or a request for help, as GET /patients/{id}/reports lists it, the POSTs answer it and the `report:created` socket event carries it. `source` says how it came: the app (REST), the chat assistant, or a voice session.
 */
export interface ReportView {
  id: ObjectId;
  patientId: ObjectId;
  kind: 'symptom' | 'help';
  symptom: {
    name: string;
    severity: 'mild' | 'moderate' | 'severe';
    notes: string | null;
    startedAt: string | null;
  } | null;
  help: {
    urgency: 'routine' | 'urgent' | 'emergency';
    reason: string;
    /**
     * The help.requested alert raised; null only if raising it failed (the caller was told so).
     */
    alertId: string | null;
  } | null;
  reportedBy: {
    userId: string;
    role: string;
  };
  source: 'app' | 'chat' | 'voice';
  /**
   * The conversation (chat) or voice session (voice) it came from.
   */
  sourceRef: string | null;
  createdAt: string;
}
