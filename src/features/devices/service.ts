/**
 * Device management for people: provisioning (the secret is shown once and
 * stored hashed), listing, assignment, disabling, secret rotation, history,
 * schedules and commands — always through the device access rule and into
 * the audit log.
 */
import { Types } from 'mongoose';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import { paginate, type PageRequest } from '../../store/pagination.js';
import type { MqttTransport } from '../../transports/mqtt/broker.js';
import type { DeviceChanges } from './changes.js';
import { deviceNamespace } from '../../transports/mqtt/policy.js';
import { audited, type Actor } from '../identity/actor.js';
import type { Identity } from '../identity/index.js';
import type { AssertDevice } from './access.js';
import type { CommandRequest, Commands } from './commands.js';
import { hashSecret, newDeviceId, newDeviceSecret } from './credentials.js';
import type { DeviceDoc, DeviceModels, HeartbeatDoc } from './models.js';
import type { Clock } from '../../ports/clock.js';
import type { Presence } from './presence.js';
import { emptySchedule, type ScheduleInput, type Schedules } from './schedule.js';
import { toCommandView, toDeviceView, toEventView, toHeartbeatView } from './views.js';
import { isDuplicateKey } from '../../store/duplicate-key.js';

export interface DeviceCreate {
  serial: string;
  name?: string;
  patientId?: string;
  heartbeatTimeoutSeconds?: number;
}
export interface DeviceUpdate {
  name?: string | null;
  patientId?: string | null;
  disabled?: boolean;
  heartbeatTimeoutSeconds?: number;
}

const TOPICS = ['heartbeat', 'events', 'status', 'acks', 'schedule', 'commands', 'errors'] as const;

interface Deps {
  models: DeviceModels;
  identity: Identity;
  assertDevice: AssertDevice;
  schedules: Schedules;
  commands: Commands;
  mqtt: MqttTransport;
  /** Tells every instance a device changed (and ends its sessions when asked). */
  changed: DeviceChanges['changed'];
  /** Says a disabled device offline, with that reason, before its sessions end. */
  presence: Pick<Presence, 'offline'>;
  clock: Clock;
  config: Config;
}

/** Publishes a device's schedule for the patient it now belongs to (the doses feature, which owns plans); false when that patient has none. */
export type PatientSchedule = (device: DeviceDoc) => Promise<boolean>;

export function createDeviceService({ models, identity, assertDevice, schedules, commands, mqtt, changed, presence, clock, config }: Deps) {
  let patientSchedule: PatientSchedule = async () => false;

  /**
   * A device moved to another patient (or to none): the schedule it holds is its previous
   * patient's, and it would dispense their doses to the new one. It gets its new patient's at
   * once, or an empty one. Until that is published the device stays `schedule.owed`, which the
   * hourly schedule job picks up should this fail halfway.
   */
  async function followPatient(device: DeviceDoc): Promise<void> {
    if (device.patientId && (await patientSchedule(device))) return;
    await schedules.publishFor(device.patientId ?? null, device, emptySchedule(device));
  }

  const { Device, DeviceEvent, Heartbeat, Command } = models;

  /**
   * A new dispenser of a patient who has a plan already gets its schedule before it first connects
   * (a new device has no previous patient's doses to forget: without a plan nothing is published).
   * Should that fail, it is owed it (the hourly schedule job) — and its secret is still given.
   */
  async function givenPatientSchedule(device: DeviceDoc): Promise<boolean> {
    try {
      return await patientSchedule(device);
    } catch {
      await Device.updateOne({ _id: device._id }, { $set: { 'schedule.owed': true } }).catch(() => undefined);
      return false;
    }
  }
  const { audit, policy } = identity;

  function connectionInfo(deviceId: string, requestHost: string) {
    const namespace = deviceNamespace(deviceId);
    return {
      host: config.mqtt.publicHost ?? requestHost,
      port: mqtt.port,
      wsPath: config.mqtt.wsPath,
      username: deviceId,
      clientId: deviceId,
      topics: Object.fromEntries(TOPICS.map((name) => [name, `${namespace}${name}`])),
    };
  }

  async function assertAssignable(actor: Actor, patientId: string): Promise<Types.ObjectId> {
    await policy.assertPatient(actor.principal, patientId, 'device.manage');
    return new Types.ObjectId(patientId);
  }

  const track = <T>(actor: Actor, action: string, deviceId: string | null, run: () => Promise<T>) =>
    audited(audit, actor, { action, objectType: 'device', objectId: deviceId }, run);

  /** The devices of the patients the caller may see (staff: the organisation's, unassigned ones included). */
  async function listVisible(actor: Actor, query: PageRequest & { patientId?: string; online?: boolean }) {
    const { principal } = actor;
    const organisationId = new Types.ObjectId(principal.organisationId);
    const staff = principal.role === 'admin' || principal.role === 'clinician';
    const visible = staff ? undefined : (await policy.visiblePatientIds(principal)).map((id) => new Types.ObjectId(id));
    const filter: Record<string, unknown> = { organisationId };
    if (visible) filter.patientId = { $in: visible };
    if (query.patientId) filter.patientId = visible && !visible.some((id) => String(id) === query.patientId) ? { $in: [] } : new Types.ObjectId(query.patientId);
    if (query.online !== undefined) filter['status.online'] = query.online;
    return paginate(Device, filter, query, toDeviceView);
  }

  return {
    async provision(actor: Actor, input: DeviceCreate, requestHost: string) {
      return track(actor, 'device.provision', null, async () => {
        policy.assertMay(actor.principal, 'device.provision');
        const patientId = input.patientId ? await assertAssignable(actor, input.patientId) : null;
        const id = newDeviceId();
        const secret = newDeviceSecret();
        try {
          const created = await Device.create({
            _id: id,
            organisationId: new Types.ObjectId(actor.principal.organisationId),
            patientId,
            patientAssignedAt: patientId ? clock.now() : null,
            serial: input.serial,
            name: input.name ?? null,
            secretHash: hashSecret(secret),
            ...(input.heartbeatTimeoutSeconds ? { heartbeatTimeoutSeconds: input.heartbeatTimeoutSeconds } : {}),
          });
          let device = created.toObject() as DeviceDoc;
          if (patientId && (await givenPatientSchedule(device))) device = (await Device.findById(id).lean<DeviceDoc>()) ?? device;
          return { ...toDeviceView(device), secret, mqtt: connectionInfo(id, requestHost) };
        } catch (error) {
          if (isDuplicateKey(error)) throw new AppError('conflict', `A device with serial ${input.serial} already exists; rotate its secret instead`);
          throw error;
        }
      });
    },

    list(actor: Actor, query: PageRequest & { patientId?: string; online?: boolean }) {
      return track(actor, 'device.list', null, () => listVisible(actor, query));
    },

    async get(actor: Actor, deviceId: string, requestHost: string) {
      return track(actor, 'device.read', deviceId, async () => {
        const device = await assertDevice(actor.principal, deviceId, 'device.read');
        return { ...toDeviceView(device), mqtt: connectionInfo(device._id, requestHost) };
      });
    },

    async update(actor: Actor, deviceId: string, input: DeviceUpdate) {
      return track(actor, 'device.update', deviceId, async () => {
        const device = await assertDevice(actor.principal, deviceId, 'device.manage');
        const set: Record<string, unknown> = {};
        if (input.name !== undefined) set.name = input.name;
        if (input.disabled !== undefined) set.disabled = input.disabled;
        if (input.heartbeatTimeoutSeconds !== undefined) set.heartbeatTimeoutSeconds = input.heartbeatTimeoutSeconds;
        if (input.patientId !== undefined) set.patientId = input.patientId === null ? null : await assertAssignable(actor, input.patientId);
        const moved = input.patientId !== undefined && String(device.patientId ?? null) !== String(set.patientId ?? null);
        if (moved) {
          set['schedule.owed'] = true;
          set.patientAssignedAt = set.patientId ? clock.now() : null;
        }
        let updated = (await Device.findByIdAndUpdate(device._id, { $set: set }, { returnDocument: 'after' }).lean<DeviceDoc>()) as DeviceDoc;
        try {
          // Offline because staff disabled it, not because it dropped: no device.offline for its caregivers.
          if (input.disabled === true) updated = (await presence.offline(device._id, 'disabled')) ?? updated;
        } finally {
          // Stored as disabled: every instance ends its sessions, whatever presence could write.
          changed(device._id, { disconnect: input.disabled === true });
        }
        if (moved) await followPatient(updated);
        return toDeviceView(updated);
      });
    },

    async rotateSecret(actor: Actor, deviceId: string, requestHost: string) {
      return track(actor, 'device.rotateSecret', deviceId, async () => {
        const device = await assertDevice(actor.principal, deviceId, 'device.manage');
        const secret = newDeviceSecret();
        await Device.updateOne({ _id: device._id }, { $set: { secretHash: hashSecret(secret) } });
        // The old secret's session must not outlive it.
        changed(device._id, { disconnect: true });
        return { id: device._id, secret, mqtt: connectionInfo(device._id, requestHost) };
      });
    },

    async events(actor: Actor, deviceId: string, page: PageRequest) {
      return track(actor, 'device.events.read', deviceId, async () => {
        await assertDevice(actor.principal, deviceId, 'device.read');
        return paginate(DeviceEvent, { deviceId }, page, toEventView);
      });
    },

    async heartbeats(actor: Actor, deviceId: string, range: { from?: string; to?: string; limit?: number }) {
      return track(actor, 'device.heartbeats.read', deviceId, async () => {
        await assertDevice(actor.principal, deviceId, 'device.read');
        const receivedAt: Record<string, Date> = {};
        if (range.from) receivedAt.$gte = new Date(range.from);
        if (range.to) receivedAt.$lte = new Date(range.to);
        const filter = { deviceId, ...(range.from || range.to ? { receivedAt } : {}) };
        const items = await Heartbeat.find(filter).sort({ receivedAt: -1 }).limit(range.limit ?? 100).lean<HeartbeatDoc[]>();
        return { items: items.map(toHeartbeatView) };
      });
    },

    async putSchedule(actor: Actor, deviceId: string, input: ScheduleInput) {
      return track(actor, 'device.schedule.write', deviceId, async () => {
        const device = await assertDevice(actor.principal, deviceId, 'device.manage');
        return schedules.publish(device, input);
      });
    },

    async getSchedule(actor: Actor, deviceId: string) {
      return track(actor, 'device.schedule.read', deviceId, async () => {
        const device = await assertDevice(actor.principal, deviceId, 'device.read');
        return { desired: device.schedule?.payload ?? null, reportedVersion: device.status?.appliedScheduleVersion ?? 0 };
      });
    },

    async command(actor: Actor, deviceId: string, request: CommandRequest) {
      return track(actor, 'device.command', deviceId, async () => {
        const device = await assertDevice(actor.principal, deviceId, 'device.manage');
        return toCommandView(await commands.issue(device, request, actor.principal.userId));
      });
    },

    listCommands(actor: Actor, deviceId: string, page: PageRequest) {
      return track(actor, 'device.commands.read', deviceId, async () => {
        await assertDevice(actor.principal, deviceId, 'device.read');
        return paginate(Command, { deviceId }, page, toCommandView);
      });
    },

    getCommand(actor: Actor, deviceId: string, commandId: string) {
      return track(actor, 'device.commands.read', deviceId, async () => {
        await assertDevice(actor.principal, deviceId, 'device.read');
        const command = await Command.findOne({ _id: commandId, deviceId }).lean();
        if (!command) throw new AppError('not_found', 'Command not found');
        return toCommandView(command);
      });
    },

    /** Who makes a device's schedule for its new patient (see followPatient). */
    setPatientSchedule(make: PatientSchedule): void {
      patientSchedule = make;
    },

    followPatient,
  };
}

export type DeviceService = ReturnType<typeof createDeviceService>;
