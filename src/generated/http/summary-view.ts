/* Generated from schemas/http/summary-view.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * A summary of a patient's medication over a local day or week, for the care team: the facts counted from the records, and a short text written from them by the language model (or, without one or when it fails, by fixed rules: `writer.kind`). As GET /patients/{id}/summaries lists it, POST answers it and `summary:created` carries it.
 */
export interface SummaryView {
  id: ObjectId;
  patientId: ObjectId;
  period: 'day' | 'week';
  from: string;
  /**
   * Inclusive.
   */
  to: string;
  timeZone: string;
  facts: {
    doses: Counts;
    medications: {
      medicationId: string;
      name: string | null;
      counts: Counts;
    }[];
    /**
     * Alerts raised in the period, by type.
     */
    alerts: {
      type: string;
      count: number;
    }[];
    /**
     * Symptoms reported in the period, by name and worst severity.
     */
    symptoms: {
      name: string;
      severity: 'mild' | 'moderate' | 'severe';
      count: number;
    }[];
    helpRequests: number;
  };
  text: string;
  writer: {
    kind: 'model' | 'rules';
    provider: string | null;
    model: string | null;
    /**
     * Why the rules wrote it although a model is configured (the model failed).
     */
    errorCode: string | null;
  };
  generatedAt: string;
}
export interface Counts {
  scheduled: number;
  takenOnTime: number;
  late: number;
  missed: number;
  skipped: number;
  unknown: number;
  /**
   * Still scheduled or due.
   */
  pending: number;
  adherencePercent: number | null;
}
