/**
 * The payload types the simulator speaks. They are not written here: they are
 * generated from schemas/mqtt by `npm run gen:types` (json-schema-to-typescript)
 * into src/generated, so the simulator cannot drift from the contract at
 * compile time, and the validation tests check the bytes it actually sends.
 * Type-only imports: nothing from src/ is loaded at run time.
 */
export type { CommandAck, CommandAckError } from '../src/generated/mqtt/ack.js';
export type {
  DeviceCommand,
  DispenseNowCommand,
  RebootCommand,
  SyncTimeCommand,
} from '../src/generated/mqtt/command.js';
export type { DeviceError } from '../src/generated/mqtt/error.js';
export type { DeviceEvent } from '../src/generated/mqtt/event.js';
export type { DeviceHeartbeat, SlotFillLevel } from '../src/generated/mqtt/heartbeat.js';
export type { DeviceSchedule, ScheduleItem, DoseWindow } from '../src/generated/mqtt/schedule.js';
export type { DeviceStatus, OnlineStatus, OfflineStatus } from '../src/generated/mqtt/status.js';

import type { DeviceEvent } from '../src/generated/mqtt/event.js';

/** Omit that keeps a union a union (plain Omit collapses it to the common keys). */
export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export type EventType = DeviceEvent['type'];
export type EventOfType<K extends EventType> = Extract<DeviceEvent, { type: K }>;

/** An event before the device stamps it with a fresh eventId and its clock. */
export type EventDraft = DistributiveOmit<DeviceEvent, 'eventId' | 'at'>;
