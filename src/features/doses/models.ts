/**
 * Medication plans and dose occurrences. A plan belongs to one patient (one
 * plan per patient, replaced as a whole by PUT); an occurrence is one planned
 * intake of one medication at one UTC instant, generated ahead from the plan
 * and unique per (planId, itemId, dueAt) so that generation is idempotent.
 */
import { Schema, type Connection, type InferSchemaType, type Model, type Types } from 'mongoose';

/**
 * `cancelled`: a dose a plan change (or a time-zone change) retired before anything was decided
 * about it — its medication or time left the plan. Kept for the record; adherence, dose lists, the
 * device schedule and the sweep ignore it.
 */
export const DOSE_STATES = ['scheduled', 'due', 'taken', 'late', 'missed', 'skipped', 'unknown', 'cancelled'] as const;
export type DoseState = (typeof DOSE_STATES)[number];

/** Epoch minute of an instant (floor). */
export const minuteOf = (instant: Date): number => Math.floor(instant.getTime() / 60_000);

export const DEFAULT_WINDOWS = { earlyMinutes: 30, lateAfterMinutes: 30, missedAfterMinutes: 60 } as const;

const windowsSchema = new Schema(
  {
    earlyMinutes: { type: Number, default: DEFAULT_WINDOWS.earlyMinutes },
    lateAfterMinutes: { type: Number, default: DEFAULT_WINDOWS.lateAfterMinutes },
    missedAfterMinutes: { type: Number, default: DEFAULT_WINDOWS.missedAfterMinutes },
  },
  { _id: false },
);

const medicationSchema = new Schema(
  {
    id: { type: String, required: true },
    name: { type: String, required: true },
    strength: { type: String, default: null },
    instructions: { type: String, default: null },
    slot: { type: Number, required: true },
    pillsPerDose: { type: Number, required: true },
    stock: { type: Number, default: null },
    criticality: { type: String, enum: ['normal', 'critical'], default: 'normal' },
    /** When refill.low was raised for the current stock (cleared when stock is topped up). */
    refillAlertedAt: { type: Date, default: null },
  },
  { _id: false },
);

const itemSchema = new Schema(
  {
    id: { type: String, required: true },
    medicationId: { type: String, required: true },
    times: { type: [String], required: true },
    /** ISO weekdays (1 = Monday … 7 = Sunday); empty = every day (or every N days). */
    daysOfWeek: { type: [Number], default: [] },
    everyNDays: { type: Number, default: null },
    startDate: { type: String, required: true },
    endDate: { type: String, default: null },
  },
  { _id: false },
);

const planSchema = new Schema(
  {
    organisationId: { type: Schema.Types.ObjectId, required: true },
    patientId: { type: Schema.Types.ObjectId, required: true },
    /** The patient's zone when the plan was written; plans follow the patient's zone. */
    timezone: { type: String, required: true },
    version: { type: Number, default: 1 },
    /**
     * Grows with every write to what a PUT replaces — a PUT, and the stock and refill.low state a
     * dispense changes — so that a PUT made from an older read is refused (optimistic concurrency,
     * the plan's ETag). Not `version`: that guards the rebuilds, which a dispense must not make stale.
     * Absent on plans written before it existed: read as 0.
     */
    revision: { type: Number, default: 1 },
    windows: { type: windowsSchema, default: () => ({}) },
    medications: { type: [medicationSchema], default: [] },
    schedule: { type: [itemSchema], default: [] },
    /** Occurrences exist up to here (exclusive). */
    generatedUntil: { type: Date, default: null },
    updatedBy: { type: String, default: null },
  },
  { timestamps: true },
);
planSchema.index({ patientId: 1 }, { unique: true });

const occurrenceSchema = new Schema(
  {
    organisationId: { type: Schema.Types.ObjectId, required: true },
    patientId: { type: Schema.Types.ObjectId, required: true },
    planId: { type: Schema.Types.ObjectId, required: true },
    itemId: { type: String, required: true },
    medicationId: { type: String, required: true },
    slot: { type: Number, required: true },
    pills: { type: Number, required: true },
    critical: { type: Boolean, default: false },
    dueAt: { type: Date, required: true },
    /** The local date (patient's zone) the dose belongs to, for per-day adherence. */
    localDate: { type: String, required: true },
    window: {
      earlyMinutes: { type: Number, required: true },
      lateAfterMinutes: { type: Number, required: true },
      missedAfterMinutes: { type: Number, required: true },
    },
    /** dueAt + missedAfterMinutes, stored so the sweep is one indexed range query. */
    missedAt: { type: Date, required: true },
    /** dueAt and missedAt in whole minutes since the epoch: the sweep asks for the minutes it covers by equality ($in), which every store answers from an index. */
    dueMinute: { type: Number, required: true },
    missedMinute: { type: Number, required: true },
    /** dueAt + lateAfterMinutes in epoch minutes: the bucket the sweep raises dose.late from (null on occurrences generated before it existed until the first sweep fills it in). */
    lateMinute: { type: Number, default: null },
    state: { type: String, enum: DOSE_STATES, default: 'scheduled' },
    takenAt: { type: Date, default: null },
    dispensedAt: { type: Date, default: null },
    /** Why the state is what it is: device, confirmation, clock, device_offline… */
    source: { type: String, default: null },
    evidence: { type: String, default: null },
    eventId: { type: String, default: null },
    confirmedBy: { type: String, default: null },
    alertedAt: { type: Date, default: null },
    /** When the dose.late alert was raised (null: none). */
    lateAlertedAt: { type: Date, default: null },
    changedAt: { type: Date, default: null },
    /**
     * A device's event brought this cancelled dose back, and the patient's doses owe the rebuild
     * that makes the dose which replaced it go (docs/DOSES.md): set by the very write that revives
     * it, unset once a rebuild that read it has stood and been published. Absent otherwise.
     */
    replanOwed: { type: Boolean },
    /** The revival the debt is for (a random token): a rebuild clears only the debts it read. */
    replanOwedBy: { type: String },
  },
  { versionKey: false },
);
occurrenceSchema.index({ planId: 1, itemId: 1, dueAt: 1 }, { unique: true });
// Single-field: a minute bucket holds few occurrences, and the embedded store answers $in from single-field indexes.
occurrenceSchema.index({ dueMinute: 1 });
occurrenceSchema.index({ missedMinute: 1 });
occurrenceSchema.index({ lateMinute: 1 });
occurrenceSchema.index({ state: 1, missedAt: 1 });
occurrenceSchema.index({ state: 1, alertedAt: 1 });
occurrenceSchema.index({ patientId: 1, dueAt: 1 });
occurrenceSchema.index({ patientId: 1, localDate: 1 });
occurrenceSchema.index({ patientId: 1, slot: 1, dueAt: 1 });
// Partial: it holds only the few doses owing a rebuild, which the per-minute job asks for by equality.
occurrenceSchema.index({ replanOwed: 1 }, { partialFilterExpression: { replanOwed: true } });

/**
 * Device events whose pills were taken off the stock, by the event's id: a dispense event applied
 * again (its device resent it after the hub failed to act on it) takes stock once. Kept 30 days.
 */
const stockTakenSchema = new Schema({ _id: { type: Schema.Types.ObjectId, required: true }, at: { type: Date, required: true } }, { versionKey: false });
stockTakenSchema.index({ at: 1 }, { expireAfterSeconds: 30 * 86_400 });

export type PlanDoc = InferSchemaType<typeof planSchema> & { _id: Types.ObjectId };
export type MedicationDoc = PlanDoc['medications'][number];
export type PlanItemDoc = PlanDoc['schedule'][number];
export interface DoseWindow {
  earlyMinutes: number;
  lateAfterMinutes: number;
  missedAfterMinutes: number;
}
export type OccurrenceDoc = Omit<InferSchemaType<typeof occurrenceSchema>, 'window' | 'state'> & { _id: Types.ObjectId; state: DoseState; window: DoseWindow };

export interface DoseModels {
  Plan: Model<PlanDoc>;
  Occurrence: Model<OccurrenceDoc>;
  StockTaken: Model<{ _id: Types.ObjectId; at: Date }>;
}

export function doseModels(connection: Connection): DoseModels {
  return {
    Plan: connection.model<PlanDoc>('MedicationPlan', planSchema, 'medication_plans'),
    Occurrence: connection.model<OccurrenceDoc>('DoseOccurrence', occurrenceSchema, 'dose_occurrences'),
    StockTaken: connection.model<{ _id: Types.ObjectId; at: Date }>('StockTaken', stockTakenSchema, 'dose_stock_taken'),
  };
}
