/**
 * Reading what the hub sends. A dispenser's firmware cannot afford a JSON
 * Schema validator, so these are the few structural checks it needs to act
 * safely; anything that fails them is logged and ignored, or, for a command
 * with a readable commandId, answered with `rejected`.
 */
import { SCHEDULE_BOUNDS, type Bounds } from './contract-bounds.js';
import type { DeviceCommand, DeviceError, DeviceSchedule } from './payloads.js';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const isInt = (value: unknown, min: number, max: number): value is number =>
  Number.isInteger(value) && (value as number) >= min && (value as number) <= max;
const within = (value: unknown, { min, max }: Bounds): value is number => isInt(value, min, max);
const isInstant = (value: unknown): value is string => typeof value === 'string' && !Number.isNaN(Date.parse(value));

export function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The bounds come from schemas/mqtt/schedule.json itself (contract-bounds.ts), so they follow the contract. */
export function readSchedule(value: unknown): DeviceSchedule | undefined {
  const bounds = SCHEDULE_BOUNDS;
  if (!isObject(value) || !within(value.version, bounds.version) || !Array.isArray(value.items)) return undefined;
  if (value.items.length > bounds.maxItems || !value.items.every(isScheduleItem)) return undefined;
  return value as unknown as DeviceSchedule;
}

function isScheduleItem(value: unknown): boolean {
  const bounds = SCHEDULE_BOUNDS;
  if (!isObject(value) || !within(value.slot, bounds.slot) || !within(value.pills, bounds.pills) || !isInstant(value.dueAt)) return false;
  const window = value.window;
  return (
    isObject(window) &&
    within(window.earlyMinutes, bounds.earlyMinutes) &&
    within(window.lateAfterMinutes, bounds.lateAfterMinutes) &&
    within(window.missedAfterMinutes, bounds.missedAfterMinutes)
  );
}

export type CommandReading =
  | { ok: true; command: DeviceCommand }
  | { ok: false; commandId?: string; code: 'unsupported' | 'invalid_params'; message: string };

const COMMAND_TYPES = new Set(['dispense_now', 'ring', 'sync_time', 'locate', 'reboot']);

export function readCommand(value: unknown): CommandReading {
  if (!isObject(value)) return { ok: false, code: 'invalid_params', message: 'command is not a JSON object' };
  const commandId = typeof value.commandId === 'string' && /^[A-Za-z0-9_-]{8,64}$/.test(value.commandId) ? value.commandId : undefined;
  const fail = (code: 'unsupported' | 'invalid_params', message: string): CommandReading => ({
    ok: false,
    code,
    message,
    ...(commandId ? { commandId } : {}),
  });
  if (!commandId) return fail('invalid_params', 'commandId missing or malformed');
  if (typeof value.type !== 'string' || !COMMAND_TYPES.has(value.type)) return fail('unsupported', `unknown command type ${String(value.type).slice(0, 40)}`);
  if (!isInstant(value.expiresAt) || !isInstant(value.issuedAt)) return fail('invalid_params', 'issuedAt/expiresAt missing or malformed');
  if (!isObject(value.params) || !paramsFit(value.type, value.params)) return fail('invalid_params', `bad params for ${value.type}`);
  return { ok: true, command: value as unknown as DeviceCommand };
}

function paramsFit(type: string, params: Json): boolean {
  switch (type) {
    case 'dispense_now':
      return isInt(params.slot, 1, 64) && isInt(params.pills, 1, 20);
    case 'ring':
      return isInt(params.durationSeconds, 1, 300);
    case 'locate':
      return isInt(params.durationSeconds, 1, 600);
    case 'sync_time':
      return isInstant(params.serverTime);
    case 'reboot':
      return params.delaySeconds === undefined || isInt(params.delaySeconds, 0, 3600);
    default:
      return false;
  }
}

export function readError(value: unknown): DeviceError | undefined {
  if (!isObject(value) || !isObject(value.ref) || typeof value.code !== 'string') return undefined;
  return value as unknown as DeviceError;
}
