/**
 * Summaries of a patient's medication over a local day or week (Monday to Sunday): the facts counted
 * from the records, and the text written from them. One per patient, period and first day (a unique
 * index: two instances, or the job and a person asking, write it once).
 *
 * Models are registered on the hub's connection, never on mongoose's global one.
 */
import { Schema, type Connection, type InferSchemaType, type Types } from 'mongoose';
import type { SummaryView } from '../../generated/http/summary-view.js';

export const PERIODS = ['day', 'week'] as const;
export type Period = (typeof PERIODS)[number];
export type SummaryFacts = SummaryView['facts'];

const summarySchema = new Schema(
  {
    organisationId: { type: Schema.Types.ObjectId, required: true },
    patientId: { type: Schema.Types.ObjectId, required: true },
    period: { type: String, enum: PERIODS, required: true },
    /** Local dates (YYYY-MM-DD) in `timeZone`, inclusive. */
    from: { type: String, required: true },
    to: { type: String, required: true },
    timeZone: { type: String, required: true },
    facts: { type: Schema.Types.Mixed, required: true },
    text: { type: String, required: true },
    writer: {
      type: new Schema({ kind: { type: String, enum: ['model', 'rules'], required: true }, provider: { type: String, default: null }, model: { type: String, default: null }, errorCode: { type: String, default: null } }, { _id: false }),
      required: true,
    },
    generatedAt: { type: Date, required: true },
    /** Who asked for it; null for the nightly job. */
    requestedBy: { type: Schema.Types.ObjectId, default: null },
  },
  { minimize: false },
);
summarySchema.index({ patientId: 1, period: 1, from: 1 }, { unique: true });
summarySchema.index({ patientId: 1, _id: -1 });

export type SummaryDoc = Omit<InferSchemaType<typeof summarySchema>, 'facts' | 'period'> & { _id: Types.ObjectId; period: Period; facts: SummaryFacts };

export function summaryModels(connection: Connection) {
  return { Summary: connection.model<SummaryDoc>('Summary', summarySchema, 'summaries') };
}

export type SummaryModels = ReturnType<typeof summaryModels>;
