/**
 * Turns commands from the hub into acks. A command is carried out at most
 * once per commandId: QoS 1 may deliver it twice (and the persistent session
 * redelivers after a reconnect), so a repeat gets the first outcome again. The
 * outcomes are kept with the device's state (device-state.ts), so a command
 * delivered again after a restart — a dispense_now above all — is not carried
 * out twice. That holds for a device that dies while carrying one out, too:
 * before acting, it saves an outcome that says so (write-ahead), and a
 * redelivery after the restart gets that outcome instead of a second dispense.
 */
import type { DoseTracker } from './doses.js';
import { readCommand } from './inbound.js';
import type { CommandAck, DeviceCommand } from './payloads.js';

export interface CommandHost {
  /** Device clock, epoch ms. */
  deviceNow(): number;
  doses: DoseTracker;
  setClock(serverTime: string): void;
  signal(kind: 'ring' | 'locate', durationSeconds: number): void;
  reboot(delaySeconds: number): void;
  /** An outcome to remember across restarts was added; resolves once it is saved. */
  changed(): Promise<void>;
  /** False once the device is stopping: a command is then left for the hub to send again. */
  canAct(): boolean;
}

/** A command's ack, and what the device does once the ack is on its way. */
export interface Outcome {
  ack: CommandAck;
  /** A reboot: after it, the device would have nothing to say the ack with. */
  afterAck?: () => void;
}

export interface CommandResult extends Outcome {
  command?: DeviceCommand;
  /** True when this commandId was seen before and the stored ack is repeated. */
  repeated: boolean;
}

/** Outcomes remembered for repeats; QoS 1 duplicates arrive close together. */
const REMEMBERED_OUTCOMES = 256;

/** The outcome of a command the device began and did not see through (it died meanwhile): whatever it did is unknown. */
export const INTERRUPTED: NonNullable<CommandAck['error']> = { code: 'internal', message: 'interrupted by a restart before its outcome was known; not carried out again' };

export class CommandHandler {
  private readonly outcomes = new Map<string, CommandAck>();
  /** Commands being carried out, by commandId. */
  private readonly running = new Map<string, Promise<Outcome>>();

  constructor(private readonly host: CommandHost) {}

  /** The outcomes remembered, oldest first, for the state file. */
  remembered(): CommandAck[] {
    return [...this.outcomes.values()];
  }

  /** After a restart: the outcomes a previous run remembered. */
  restore(acks: readonly CommandAck[]): void {
    for (const ack of acks.slice(-REMEMBERED_OUTCOMES)) this.outcomes.set(ack.commandId, ack);
  }

  /** The ack to send, or undefined when the message carries no usable commandId. */
  async handle(message: unknown): Promise<CommandResult | undefined> {
    const reading = readCommand(message);
    if (!reading.ok) {
      if (!reading.commandId) return undefined;
      const previous = this.outcomes.get(reading.commandId);
      if (previous) return { ack: previous, repeated: true };
      return { ack: await this.remember(this.ack(reading.commandId, 'rejected', { code: reading.code, message: reading.message })), repeated: false };
    }
    const { command } = reading;
    // A duplicate of a command being carried out gets its outcome once known (not the one saved ahead).
    const running = this.running.get(command.commandId);
    if (running) return { command, ack: (await running).ack, repeated: true };
    const previous = this.outcomes.get(command.commandId);
    if (previous) return { command, ack: previous, repeated: true };
    const outcome = this.carryOut(command);
    this.running.set(command.commandId, outcome);
    try {
      return { command, ...(await outcome), repeated: false };
    } finally {
      this.running.delete(command.commandId);
    }
  }

  /**
   * Saves an outcome that says "interrupted" before acting: should the device die before the real
   * outcome is saved, the command's redelivery after the restart is answered with it, not carried
   * out a second time. A command whose note could not be saved is not carried out (no ack: the
   * hub sends it again when the device reconnects); nor is one that finds the device stopping.
   */
  private async carryOut(command: DeviceCommand): Promise<Outcome> {
    try {
      await this.remember(this.ack(command.commandId, 'failed', INTERRUPTED));
    } catch (error) {
      this.outcomes.delete(command.commandId);
      throw error;
    }
    if (!this.host.canAct()) throw new Error('the device is stopping');
    const { ack, afterAck } = this.execute(command);
    return { ack: await this.remember(ack), ...(afterAck ? { afterAck } : {}) };
  }

  private execute(command: DeviceCommand): Outcome {
    if (this.host.deviceNow() > Date.parse(command.expiresAt)) return { ack: this.ack(command.commandId, 'expired') };
    switch (command.type) {
      case 'dispense_now': {
        const outcome = this.host.doses.dispenseOnCommand(command);
        return { ack: this.ack(command.commandId, outcome.status, outcome.error) };
      }
      case 'ring':
      case 'locate':
        this.host.signal(command.type, command.params.durationSeconds);
        return { ack: this.ack(command.commandId, 'succeeded') };
      case 'sync_time':
        this.host.setClock(command.params.serverTime);
        return { ack: this.ack(command.commandId, 'succeeded') };
      case 'reboot': {
        // Ack first: after the reboot the device would have nothing to say it with.
        const delaySeconds = command.params.delaySeconds ?? 0;
        return { ack: this.ack(command.commandId, 'succeeded'), afterAck: () => this.host.reboot(delaySeconds) };
      }
    }
  }

  private ack(commandId: string, status: CommandAck['status'], error?: CommandAck['error']): CommandAck {
    return { commandId, status, at: new Date(this.host.deviceNow()).toISOString(), ...(error ? { error } : {}) };
  }

  private async remember(ack: CommandAck): Promise<CommandAck> {
    this.outcomes.set(ack.commandId, ack);
    if (this.outcomes.size > REMEMBERED_OUTCOMES) this.outcomes.delete(this.outcomes.keys().next().value as string);
    await this.host.changed();
    return ack;
  }
}
