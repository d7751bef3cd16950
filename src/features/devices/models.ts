/**
 * Devices (pill dispensers), what they report (events, heartbeats) and what
 * they are asked to do (commands). A device's id is also its MQTT client id,
 * username and topic level. Events are unique per (deviceId, eventId): that
 * unique index is what makes a QoS 1 resend harmless.
 */
import { Schema, type Connection, type InferSchemaType, type Model, type Types } from 'mongoose';

const liveStatusSchema = new Schema(
  {
    online: { type: Boolean, default: false },
    /** Why the device went offline: disconnected, connection_lost, silent, shutdown, reboot, disabled. */
    reason: { type: String, default: null },
    connectionId: { type: String, default: null },
    lastSeenAt: { type: Date, default: null },
    changedAt: { type: Date, default: null },
    /** The last heartbeat kept in the history: when it arrived and what it reported (the history is sampled, see ingest.ts). */
    lastKept: {
      type: new Schema({ at: Date, firmwareVersion: String, appliedScheduleVersion: Number }, { _id: false }),
      default: null,
    },
    batteryPercent: { type: Number, default: null },
    rssiDbm: { type: Number, default: null },
    firmwareVersion: { type: String, default: null },
    uptimeSeconds: { type: Number, default: null },
    appliedScheduleVersion: { type: Number, default: 0 },
    slots: { type: [{ slot: Number, pills: Number, _id: false }], default: [] },
  },
  { _id: false },
);

const deviceSchema = new Schema(
  {
    _id: { type: String, required: true },
    organisationId: { type: Schema.Types.ObjectId, required: true, index: true },
    patientId: { type: Schema.Types.ObjectId, default: null, index: true },
    /** When it was given its patient: events dated before then (queued for a previous patient) are not that patient's doses. */
    patientAssignedAt: { type: Date, default: null },
    serial: { type: String, required: true },
    name: { type: String, default: null },
    /** SHA-256 of the device secret. Secrets are 256 random bits, so a fast hash is enough (unlike passwords). */
    secretHash: { type: String, required: true },
    disabled: { type: Boolean, default: false },
    /** Silence longer than this marks the device offline. */
    heartbeatTimeoutSeconds: { type: Number, default: 180 },
    status: { type: liveStatusSchema, default: () => ({}) },
    /** The desired schedule (published retained); the device reports the version it applied. */
    schedule: {
      version: { type: Number, default: 0 },
      payload: { type: Schema.Types.Mixed, default: null },
      updatedAt: { type: Date, default: null },
      /**
       * The device moved to another patient and is owed a schedule of its new patient's: until then
       * it holds an empty one (the previous patient's doses must not be dispensed to the new one).
       */
      owed: { type: Boolean, default: false },
    },
  },
  { timestamps: true, _id: false },
);
deviceSchema.index({ organisationId: 1, serial: 1 }, { unique: true });
deviceSchema.index({ 'status.online': 1, 'status.lastSeenAt': 1 });
// Offline devices by reason (the overdue-reboot sweep): pinned on both fields, so the embedded store answers from it too.
deviceSchema.index({ 'status.online': 1, 'status.reason': 1 });

const eventSchema = new Schema(
  {
    deviceId: { type: String, required: true },
    eventId: { type: String, required: true },
    organisationId: { type: Schema.Types.ObjectId, required: true },
    patientId: { type: Schema.Types.ObjectId, default: null },
    type: { type: String, required: true },
    /** Device clock when it happened. */
    at: { type: Date, required: true },
    receivedAt: { type: Date, required: true },
    via: { type: String, enum: ['mqtt', 'http'], required: true },
    /** The validated payload as the device sent it. */
    payload: { type: Schema.Types.Mixed, required: true },
    /**
     * false from when the event is stored until what it sets off (caregivers told, the dose and
     * alert listeners run) has been done: a resend of an event stored but not processed — the
     * hub failed in between, so the device got no ack — has it done then. Absent on events stored
     * before it existed (processed).
     */
    processed: { type: Boolean },
    /**
     * Until when the instance that last claimed it runs its effects; then anyone (a resend, the
     * recovery sweep) may claim it. Absent on a new event: the instance that stored it holds it
     * until `receivedAt` + 30 s. See event-claims.ts.
     */
    claimedUntil: { type: Date },
    /** Claims taken after the first: the recovery sweep gives up an event whose effects keep failing. */
    reclaims: { type: Number },
  },
  { versionKey: false },
);
eventSchema.index({ deviceId: 1, eventId: 1 }, { unique: true });
/** The recovery sweep's events, and only them: an index of the few events not yet acted on. */
eventSchema.index({ processed: 1 }, { partialFilterExpression: { processed: false } });
eventSchema.index({ patientId: 1, at: -1 });

const heartbeatSchema = new Schema(
  {
    deviceId: { type: String, required: true },
    at: { type: Date, required: true },
    receivedAt: { type: Date, required: true },
    batteryPercent: Number,
    rssiDbm: Number,
    firmwareVersion: String,
    uptimeSeconds: Number,
    appliedScheduleVersion: Number,
    slots: { type: [{ slot: Number, pills: Number, _id: false }], default: [] },
    /** History is kept for a bounded time (TTL index). */
    expiresAt: { type: Date, required: true },
  },
  { versionKey: false },
);
heartbeatSchema.index({ deviceId: 1, receivedAt: -1 });
heartbeatSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });

export const COMMAND_TYPES = ['dispense_now', 'ring', 'sync_time', 'locate', 'reboot'] as const;
export const COMMAND_STATES = ['pending', 'succeeded', 'failed', 'expired', 'rejected'] as const;
export type CommandState = (typeof COMMAND_STATES)[number];

const commandSchema = new Schema(
  {
    _id: { type: String, required: true },
    deviceId: { type: String, required: true, index: true },
    organisationId: { type: Schema.Types.ObjectId, required: true },
    type: { type: String, enum: COMMAND_TYPES, required: true },
    params: { type: Schema.Types.Mixed, default: {} },
    issuedAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
    issuedBy: { type: String, default: null },
    status: { type: String, enum: COMMAND_STATES, default: 'pending' },
    completedAt: { type: Date, default: null },
    error: { type: Schema.Types.Mixed, default: null },
  },
  { versionKey: false, _id: false },
);
commandSchema.index({ status: 1, expiresAt: 1 });

export type DeviceDoc = InferSchemaType<typeof deviceSchema> & { _id: string };
export type DeviceEventDoc = InferSchemaType<typeof eventSchema> & { _id: Types.ObjectId };
export type HeartbeatDoc = InferSchemaType<typeof heartbeatSchema> & { _id: Types.ObjectId };
export type CommandDoc = InferSchemaType<typeof commandSchema> & { _id: string };

export interface DeviceModels {
  Device: Model<DeviceDoc>;
  DeviceEvent: Model<DeviceEventDoc>;
  Heartbeat: Model<HeartbeatDoc>;
  Command: Model<CommandDoc>;
}

export function deviceModels(connection: Connection): DeviceModels {
  return {
    Device: connection.model<DeviceDoc>('Device', deviceSchema),
    DeviceEvent: connection.model<DeviceEventDoc>('DeviceEvent', eventSchema, 'device_events'),
    Heartbeat: connection.model<HeartbeatDoc>('Heartbeat', heartbeatSchema),
    Command: connection.model<CommandDoc>('Command', commandSchema, 'device_commands'),
  };
}
