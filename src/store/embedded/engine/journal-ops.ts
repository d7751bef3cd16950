/**
 * Logical operations recorded in the journal and in snapshots. Replaying them in order
 * rebuilds the exact in-memory state (documents and index definitions).
 */
import type { Document } from 'bson';

export type JournalOp =
  | { op: 'createCollection'; ns: string; options: Document }
  | { op: 'dropCollection'; ns: string }
  | { op: 'dropDatabase'; db: string }
  | { op: 'createIndex'; ns: string; spec: Document }
  | { op: 'dropIndex'; ns: string; name: string }
  /**
   * `encoded`: the document's BSON exactly as it arrived, when it is stored unchanged; the
   * journal copies it instead of serializing `doc` again. Never itself written or replayed.
   */
  | { op: 'insert'; ns: string; doc: Document; encoded?: Uint8Array }
  | { op: 'replace'; ns: string; doc: Document }
  /**
   * An update that changed only the values of existing top-level fields, field order kept:
   * `set` holds just those fields. A heartbeat rewrites a few status fields of a device
   * document that also holds its whole schedule; journaling the new values instead of the
   * document cuts the bytes and the encoding work several-fold.
   */
  | { op: 'patch'; ns: string; id: unknown; set: Document }
  | { op: 'delete'; ns: string; id: unknown }
  | { op: 'retryableWrite'; session: string; txnNumber: unknown; reply: Document; at: Date };

/** The operations one command produced; committed to the journal as one atomic record. */
export class WriteLog {
  readonly ops: JournalOp[] = [];

  record(op: JournalOp): void {
    this.ops.push(op);
  }

  get isEmpty(): boolean {
    return this.ops.length === 0;
  }
}
