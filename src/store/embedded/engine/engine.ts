/**
 * The store's state and its services: catalog, cursors, retryable-write records and the
 * optional on-disk persistence. Command handlers mutate through the catalog with a WriteLog
 * and then `commit` it; the reply is sent once the commit promise resolves (durable).
 */
import type { Document, Long } from 'bson';
import type { StoreLogger } from '../logger.js';
import type { Persistence } from '../persistence/persistence.js';
import { Catalog } from './catalog.js';
import { CursorManager } from './cursors.js';
import type { JournalOp, WriteLog } from './journal-ops.js';
import { RetryableWrites } from './retryable-writes.js';

export interface RetryContext {
  session: string;
  txnNumber: Long;
}

export interface EngineSettings {
  replSetName: string;
  /** host:port the server advertises in hello (`me`, `hosts`, `primary`). */
  advertisedHost: string;
  cursorTimeoutMs: number;
  logicalSessionTimeoutMinutes: number;
  /** False for inMemory stores. */
  persistent: boolean;
  logger: StoreLogger;
  onCommand?: CommandObserver;
}

/**
 * Told of every command answered: its name, seconds from its arrival to its reply, whether it
 * answered ok, and the collection it named (`{find: 'devices'}`), if any.
 */
export type CommandObserver = (command: string, seconds: number, ok: boolean, collection: string | undefined) => void;

/** The observer, made safe to call: one that throws is logged, never fatal — the command has run, its client still gets its reply. */
export function guardObserver(observer: CommandObserver, logger: StoreLogger): CommandObserver {
  return (command, seconds, ok, collection) => {
    try {
      observer(command, seconds, ok, collection);
    } catch (error) {
      logger.error({ err: String(error), command }, 'embedded store command observer failed');
    }
  };
}

export class Engine {
  readonly catalog = new Catalog();
  readonly retryableWrites = new RetryableWrites();
  readonly cursors: CursorManager;
  readonly startedAt = new Date();
  private persistence: Persistence | undefined;
  private connectionCounter = 0;

  constructor(public settings: EngineSettings) {
    this.cursors = new CursorManager(settings.cursorTimeoutMs);
  }

  attachPersistence(persistence: Persistence): void {
    this.persistence = persistence;
  }

  nextConnectionId(): number {
    this.connectionCounter += 1;
    return this.connectionCounter;
  }

  /** Whether a journal record builds on a document that replay so far has not produced. */
  dependsOnLostWrite(ops: readonly JournalOp[]): boolean {
    return this.catalog.dependsOnMissingDocument(ops);
  }

  /** Replays one persisted operation into memory. */
  replay(op: JournalOp): void {
    if (op.op === 'retryableWrite') this.retryableWrites.restore(op);
    else this.catalog.apply(op);
  }

  /**
   * Makes the logged operations durable (one journal record, so a command's effects are
   * replayed all or nothing) and, for retryable writes, remembers the reply.
   */
  commit(log: WriteLog, retry?: RetryContext, reply?: Document): Promise<void> {
    if (retry !== undefined && reply !== undefined) {
      log.record(this.retryableWrites.journalOp(retry.session, retry.txnNumber, reply));
    }
    const durable = this.durability(log);
    if (retry !== undefined && reply !== undefined) this.retryableWrites.remember(retry.session, retry.txnNumber, reply, durable);
    if (this.persistence?.shouldCompact === true) void this.compact();
    return durable;
  }

  /**
   * A command that journals nothing still answers after every write before it is durable: its
   * reply (no match, a no-op, E11000) may rest on another client's write that is applied in
   * memory but still waiting for its sync — mongod too makes such a write wait for the latest
   * write before it. Costs nothing when no write is pending.
   */
  private durability(log: WriteLog): Promise<void> {
    return log.isEmpty ? this.barrier() : (this.persistence?.append(log.ops) ?? Promise.resolve());
  }

  /** Resolves once every write committed so far is durable (see `durability`). */
  barrier(): Promise<void> {
    return this.persistence?.barrier() ?? Promise.resolve();
  }

  async compact(): Promise<void> {
    try {
      await this.persistence?.compact(() => this.captureState());
    } catch (error) {
      this.settings.logger.error({ err: String(error) }, 'embedded store compaction failed');
    }
  }

  /** The whole state as replayable operations (documents are immutable, so references suffice). */
  captureState(): JournalOp[] {
    const ops: JournalOp[] = [];
    for (const collection of this.catalog.all()) {
      ops.push({ op: 'createCollection', ns: collection.ns, options: collection.options });
      for (const index of collection.indexes.values()) ops.push({ op: 'createIndex', ns: collection.ns, spec: index.spec });
      for (const doc of collection.documents.values()) ops.push({ op: 'insert', ns: collection.ns, doc });
    }
    ops.push(...this.retryableWrites.snapshotOps());
    return ops;
  }

  async close(): Promise<void> {
    this.cursors.close();
    await this.persistence?.close(() => this.captureState());
  }
}
