/**
 * Retryable writes (lsid + txnNumber) are applied once, and multi-document transactions either
 * work (real MongoDB) or are refused with MongoDB's error (embedded store) — never pretended.
 */
import t from 'tap';
import { Long } from 'mongodb';
import type { ClientSession, Document } from 'mongodb';
import { connectClient, startTestServer, usingRealMongo } from './helpers.js';
import type { AnyDocument } from './helpers.js';

const server = await startTestServer(t, 'retryable');
const client = await connectClient(t, server.uri, { monitorCommands: true });
const db = client.db(server.dbName);

// The driver pools server sessions: a session started on `client` may reuse an lsid whose
// txnNumbers its earlier writes already spent. Explicit txnNumbers therefore go through a
// client of their own.
const retryClient = await connectClient(t, server.uri);
const retryDb = retryClient.db(server.dbName);

/** Sends a write with an explicit txnNumber on `session`, the way the driver retries one. */
function sendWithTxnNumber(session: ClientSession, command: Document, txnNumber: number): Promise<Document> {
  return retryDb.command({ ...command, txnNumber: Long.fromNumber(txnNumber) }, { session });
}

t.test('the driver sends retryable writes with txnNumber and they succeed', async (t) => {
  const txnNumbers: unknown[] = [];
  const listener = (event: { commandName: string; command: Document }): void => {
    if (event.commandName === 'insert') txnNumbers.push(event.command.txnNumber);
  };
  client.on('commandStarted', listener);
  t.teardown(() => client.off('commandStarted', listener));
  await db.collection<AnyDocument>('auto').insertOne({ a: 1 });
  t.equal(txnNumbers.length, 1);
  t.ok(txnNumbers[0] !== undefined, 'retryable write carries a txnNumber');
});

t.test('a retried insert, update and findAndModify are applied once', async (t) => {
  const session = retryClient.startSession();
  t.teardown(() => session.endSession());
  const insert = { insert: 'once', documents: [{ _id: 1, n: 0 }] };
  const first = await sendWithTxnNumber(session, insert, 1);
  const retry = await sendWithTxnNumber(session, insert, 1);
  t.equal(first.n, 1);
  t.equal(retry.n, 1, 'the retry reports the original outcome');
  t.notOk(retry.writeErrors, 'and no duplicate key error');

  const update = { update: 'once', updates: [{ q: { _id: 1 }, u: { $inc: { n: 1 } } }] };
  await sendWithTxnNumber(session, update, 2);
  const retriedUpdate = await sendWithTxnNumber(session, update, 2);
  t.equal(retriedUpdate.nModified, 1);
  t.equal((await db.collection<AnyDocument>('once').findOne({ _id: 1 }))?.n, 1, '$inc applied once');

  const fam = { findAndModify: 'once', query: { _id: 1 }, update: { $inc: { n: 10 } }, new: true };
  const famFirst = await sendWithTxnNumber(session, fam, 3);
  const famRetry = await sendWithTxnNumber(session, fam, 3);
  t.equal(famFirst.value?.n, 11);
  t.equal(famRetry.value?.n, 11, 'the retry returns the same document');
  t.equal((await db.collection<AnyDocument>('once').findOne({ _id: 1 }))?.n, 11);

  const next = await sendWithTxnNumber(session, update, 4);
  t.equal(next.nModified, 1, 'a new txnNumber is a new write');
  const stale = await sendWithTxnNumber(session, update, 2).catch((error: unknown) => error as { code?: number });
  t.equal((stale as { code?: number }).code, 225, 'an older txnNumber is refused (TransactionTooOld)');
  t.equal((await db.collection<AnyDocument>('once').findOne({ _id: 1 }))?.n, 12);
});

t.test('multi-document transactions commit on MongoDB and are refused by the embedded store', async (t) => {
  const coll = db.collection<AnyDocument>('txn');
  await coll.insertOne({ _id: 'seed' });
  const failures: Array<{ commandName: string; failure: { code?: number; codeName?: string; message: string } }> = [];
  const onFailure = (event: { commandName: string; failure: Error }): void => {
    failures.push({ commandName: event.commandName, failure: event.failure as never });
  };
  client.on('commandFailed', onFailure);
  t.teardown(() => client.off('commandFailed', onFailure));
  const session = client.startSession();
  t.teardown(() => session.endSession());
  const outcome = await session
    .withTransaction(async () => {
      await coll.insertOne({ _id: 'in-txn' }, { session });
      await coll.updateOne({ _id: 'seed' }, { $set: { touched: true } }, { session });
    })
    .then(
      () => undefined,
      (error: unknown) => error as { code?: number; originalError?: { code?: number }; hasErrorLabel?: (label: string) => boolean },
    );
  if (usingRealMongo) {
    t.equal(outcome, undefined, 'a replica set runs the transaction');
    t.equal(await coll.countDocuments({ _id: 'in-txn' }), 1);
    return;
  }
  t.ok(outcome, 'the embedded store refuses instead of pretending');
  const refusal = failures.find((entry) => entry.commandName === 'insert')?.failure;
  t.equal(refusal?.code, 20, 'the wire reply is IllegalOperation, as from a mongod without snapshot support');
  t.equal(refusal?.codeName, 'IllegalOperation');
  t.match(refusal?.message, /Transactions are not supported/);
  // The driver rewrites code 20 on writes into "does not support retryable writes" and keeps
  // the server's error as originalError.
  t.equal(outcome?.code ?? outcome?.originalError?.code, 20);
  t.notOk(outcome?.hasErrorLabel?.('TransientTransactionError'), 'not labelled transient, so it is not retried');
  t.equal(await coll.countDocuments({ _id: 'in-txn' }), 0, 'nothing from the transaction was written');
  t.same(await coll.findOne({ _id: 'seed' }), { _id: 'seed' });
  const status = await db.admin().command({ serverStatus: 1 });
  t.equal(status.storageEngine?.supportsSnapshotReadConcern, false, 'as a mongod without snapshot support reports');
});

t.test('snapshot reads are served by MongoDB and refused by the embedded store', async (t) => {
  const coll = db.collection<AnyDocument>('snapshots');
  await coll.insertOne({ _id: 1 });
  const session = client.startSession({ snapshot: true });
  t.teardown(() => session.endSession());
  const outcome = await (async () => {
    const first = await coll.countDocuments({}, { session });
    await coll.insertOne({ _id: 2 });
    return { first, second: await coll.countDocuments({}, { session }) };
  })().catch((error: unknown) => error as { code?: number; message?: string });
  if (usingRealMongo) {
    t.same(outcome, { first: 1, second: 1 }, 'a snapshot session keeps reading its snapshot');
    return;
  }
  t.equal((outcome as { code?: number }).code, 20, 'IllegalOperation, as for transactions');
  t.match((outcome as { message?: string }).message, /Snapshot reads/);
  const direct = await db.command({ find: 'snapshots', readConcern: { level: 'snapshot' } }).catch((error: unknown) => error as { code?: number });
  t.equal((direct as { code?: number }).code, 20, 'a find with readConcern snapshot is refused too');
  t.equal(await coll.countDocuments({}), 1, 'plain reads still work');
});
