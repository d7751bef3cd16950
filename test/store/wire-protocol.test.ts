/**
 * The wire protocol below the driver: the legacy OP_QUERY handshake answered with OP_REPLY,
 * OP_MSG kind-1 document sequences, and moreToCome messages that get no reply.
 */
import t from 'tap';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { deserialize, serialize } from 'bson';
import type { Document } from 'bson';
import { MongoClient } from 'mongodb';
import { startEmbeddedStore } from '../../src/store/embedded/index.js';
import { embeddedOnly, startTestServer } from './helpers.js';

const server = await startTestServer(t, 'wire');
const { hostname, port } = new URL(server.uri.replace('mongodb://', 'http://'));

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const MORE_TO_COME = 2;

interface Frame {
  requestId: number;
  responseTo: number;
  opCode: number;
  body: Buffer;
}

/** A minimal client: frames out, frames in, in order. */
class RawConnection {
  private buffered = Buffer.alloc(0);
  private readonly frames: Frame[] = [];
  private readonly waiters: Array<(frame: Frame) => void> = [];
  private nextId = 1;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      while (this.buffered.length >= 16 && this.buffered.length >= this.buffered.readInt32LE(0)) {
        const length = this.buffered.readInt32LE(0);
        const frame = {
          requestId: this.buffered.readInt32LE(4),
          responseTo: this.buffered.readInt32LE(8),
          opCode: this.buffered.readInt32LE(12),
          body: this.buffered.subarray(16, length),
        };
        this.buffered = this.buffered.subarray(length);
        const waiter = this.waiters.shift();
        if (waiter) waiter(frame);
        else this.frames.push(frame);
      }
    });
  }

  static open(): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: hostname, port: Number(port) }, () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  send(opCode: number, body: Buffer): number {
    const { requestId, message } = this.frame(opCode, body);
    this.socket.write(message);
    return requestId;
  }

  frame(opCode: number, body: Buffer): { requestId: number; message: Buffer } {
    const requestId = this.nextId++;
    const header = Buffer.alloc(16);
    header.writeInt32LE(16 + body.length, 0);
    header.writeInt32LE(requestId, 4);
    header.writeInt32LE(0, 8);
    header.writeInt32LE(opCode, 12);
    return { requestId, message: Buffer.concat([header, body]) };
  }

  /** Writes `bytes` in pieces, each after the previous one has left, so that they arrive apart. */
  async writeInPieces(bytes: Buffer, sizes: number[]): Promise<void> {
    let offset = 0;
    for (const size of sizes) {
      await new Promise<void>((resolve) => this.socket.write(bytes.subarray(offset, offset + size), () => setTimeout(resolve, 2)));
      offset += size;
    }
    if (offset < bytes.length) this.socket.write(bytes.subarray(offset));
  }

  next(): Promise<Frame> {
    const frame = this.frames.shift();
    if (frame) return Promise.resolve(frame);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  close(): void {
    this.socket.destroy();
  }
}

function opQuery(collection: string, query: Document): Buffer {
  const flags = Buffer.alloc(4);
  const name = Buffer.from(`${collection}\0`, 'utf8');
  const skipAndReturn = Buffer.alloc(8);
  skipAndReturn.writeInt32LE(-1, 4);
  return Buffer.concat([flags, name, skipAndReturn, serialize(query)]);
}

function opMsg(body: Document, flags = 0, sequences: Array<[string, Document[]]> = []): Buffer {
  const parts: Buffer[] = [];
  const flagBuffer = Buffer.alloc(4);
  flagBuffer.writeUInt32LE(flags, 0);
  parts.push(flagBuffer, Buffer.from([0]), Buffer.from(serialize(body)));
  for (const [identifier, documents] of sequences) {
    const payload = Buffer.concat([Buffer.from(`${identifier}\0`, 'utf8'), ...documents.map((doc) => Buffer.from(serialize(doc)))]);
    const size = Buffer.alloc(4);
    size.writeInt32LE(payload.length + 4, 0);
    parts.push(Buffer.from([1]), size, payload);
  }
  return Buffer.concat(parts);
}

function msgBody(frame: Frame): Document {
  // flags (4) + section kind 0 (1) + document
  return deserialize(frame.body.subarray(5));
}

t.test('a legacy OP_QUERY isMaster is answered with OP_REPLY', async (t) => {
  const connection = await RawConnection.open();
  t.teardown(() => connection.close());
  const requestId = connection.send(OP_QUERY, opQuery('admin.$cmd', { isMaster: 1, helloOk: true }));
  const frame = await connection.next();
  t.equal(frame.opCode, OP_REPLY);
  t.equal(frame.responseTo, requestId);
  t.equal(frame.body.readInt32LE(16), 1, 'numberReturned');
  const reply = deserialize(frame.body.subarray(20));
  t.equal(reply.ismaster, true);
  t.equal(reply.ok, 1);
});

t.test('OP_MSG with kind-1 document sequences', async (t) => {
  const connection = await RawConnection.open();
  t.teardown(() => connection.close());
  const requestId = connection.send(OP_MSG, opMsg({ insert: 'seq', $db: server.dbName }, 0, [['documents', [{ _id: 1 }, { _id: 2 }, { _id: 3 }]]]));
  const frame = await connection.next();
  t.equal(frame.opCode, OP_MSG);
  t.equal(frame.responseTo, requestId);
  t.same({ ...msgBody(frame) }, { n: 3, ok: 1 });
  connection.send(OP_MSG, opMsg({ delete: 'seq', $db: server.dbName }, 0, [['deletes', [{ q: { _id: { $gte: 2 } }, limit: 0 }]]]));
  t.equal(msgBody(await connection.next()).n, 2);
});

t.test('moreToCome messages get no reply', async (t) => {
  const connection = await RawConnection.open();
  t.teardown(() => connection.close());
  connection.send(OP_MSG, opMsg({ insert: 'quiet', documents: [{ _id: 'q' }], writeConcern: { w: 0 }, $db: server.dbName }, MORE_TO_COME));
  const pingId = connection.send(OP_MSG, opMsg({ ping: 1, $db: 'admin' }));
  const frame = await connection.next();
  t.equal(frame.responseTo, pingId, 'the first reply answers the ping, not the moreToCome insert');
  const countId = connection.send(OP_MSG, opMsg({ count: 'quiet', $db: server.dbName }));
  const count = await connection.next();
  t.equal(count.responseTo, countId);
  t.equal(msgBody(count).n, 1, 'the unacknowledged insert was applied');
});

t.test('unknown commands over the raw protocol', async (t) => {
  const connection = await RawConnection.open();
  t.teardown(() => connection.close());
  connection.send(OP_MSG, opMsg({ noSuchThing: 1, $db: 'admin' }));
  const reply = msgBody(await connection.next());
  t.equal(reply.ok, 0);
  t.equal(reply.code, 59);
  t.equal(reply.codeName, 'CommandNotFound');
  t.equal(reply.errmsg, "no such command: 'noSuchThing'");
});

t.test('messages split anywhere, or sharing a chunk, are framed correctly', async (t) => {
  const connection = await RawConnection.open();
  t.teardown(() => connection.close());
  // A 2 MB insert arriving in 34 pieces, the first of them splitting the length prefix.
  const large = connection.frame(OP_MSG, opMsg({ insert: 'pieces', documents: [{ _id: 'large', blob: 'x'.repeat(2 * 1024 * 1024) }], $db: server.dbName }));
  await connection.writeInPieces(large.message, [2, 3, 20, ...Array.from<number>({ length: 31 }).fill(64 * 1024)]);
  const reply = await connection.next();
  t.equal(reply.responseTo, large.requestId);
  t.same({ ...msgBody(reply) }, { n: 1, ok: 1 });
  // Two messages in one write, then a third whose header ends the same write.
  const first = connection.frame(OP_MSG, opMsg({ insert: 'pieces', documents: [{ _id: 'a' }], $db: server.dbName }));
  const second = connection.frame(OP_MSG, opMsg({ count: 'pieces', $db: server.dbName }));
  const third = connection.frame(OP_MSG, opMsg({ ping: 1, $db: 'admin' }));
  await connection.writeInPieces(Buffer.concat([first.message, second.message, third.message]), [first.message.length + second.message.length + 10]);
  const replies = [await connection.next(), await connection.next(), await connection.next()];
  t.same(replies.map((frame) => frame.responseTo), [first.requestId, second.requestId, third.requestId]);
  t.equal(msgBody(replies[1] as Frame).n, 2, 'both inserts are there');
});

t.test('onCommand: every command answered, by name, with its time and outcome; not the handshake', { skip: embeddedOnly }, async (t) => {
  const seen: Array<{ command: string; seconds: number; ok: boolean }> = [];
  const store = await startEmbeddedStore({ inMemory: true, onCommand: (command, seconds, ok) => seen.push({ command, seconds, ok }) });
  t.teardown(() => store.close());
  const client = await MongoClient.connect(store.uri);
  t.teardown(() => client.close());
  const coll = client.db('observed').collection('things');
  await coll.insertOne({ _id: 1 } as Document);
  await coll.find({}).toArray();
  await t.rejects(coll.insertOne({ _id: 1 } as Document), { code: 11000 });
  await t.rejects(client.db('observed').command({ noSuchCommand: 1 }), { code: 59 });
  const names = seen.map((s) => s.command);
  t.same(names.filter((name) => ['insert', 'find', 'noSuchCommand'].includes(name)), ['insert', 'find', 'insert', 'noSuchCommand']);
  t.notOk(names.some((name) => ['hello', 'isMaster', 'ismaster'].includes(name)), 'handshakes are not reported');
  t.same(seen.filter((s) => s.command === 'insert').map((s) => s.ok), [true, true], 'a write error is still an ok reply, as mongod answers');
  t.equal(seen.find((s) => s.command === 'noSuchCommand')?.ok, false, 'an unknown command is not');
  t.ok(seen.every((s) => s.seconds >= 0 && s.seconds < 5), 'durations in seconds');
});

t.test('an onCommand observer that throws costs the client neither its reply nor its connection', { skip: embeddedOnly }, async (t) => {
  const store = await startEmbeddedStore({
    inMemory: true,
    onCommand: () => {
      throw new Error('observer broke');
    },
  });
  t.teardown(() => store.close());
  const client = await MongoClient.connect(store.uri);
  t.teardown(() => client.close());
  const coll = client.db('observed').collection('things');
  await coll.insertOne({ _id: 1 } as Document);
  await coll.insertOne({ _id: 2 } as Document);
  t.equal(await coll.countDocuments({}), 2, 'each command answered on the same connection');
});
