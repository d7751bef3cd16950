/**
 * Our patch of the MongoDB driver (patches/mongodb+*.patch, applied by patch-package on
 * install). When a server closes its connections — a MongoDB restart, or the embedded store
 * stopping — the driver can start a command on a connection whose socket the peer has already
 * destroyed but whose 'close' event it has not handled yet: `socket.write` returns false and
 * neither 'drain' nor 'error' ever comes. Unpatched, that command waited forever; when it was the
 * server monitor's `hello`, the client never found the server again after it came back (the
 * store-outage test hung with the store on a worker thread). These tests drive the driver's own
 * Connection: they reach into its internals because the race they pin down lives there.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import t from 'tap';
import type { MongoClient } from 'mongodb';
import { connectClient, startTestServer } from './helpers.js';

const requireDriver = createRequire(import.meta.url);
const { ns } = requireDriver('mongodb/lib/utils.js') as { ns: (namespace: string) => unknown };

interface DriverConnection {
  socket: Socket;
  closed: boolean;
  command(namespace: unknown, command: Record<string, unknown>, options: Record<string, unknown>): Promise<unknown>;
}

/** The server monitor's own connection, once its first check has made one. */
async function monitorConnection(client: MongoClient): Promise<DriverConnection> {
  const topology = (client as unknown as { topology: { s: { servers: Map<string, { monitor: { connection: DriverConnection | null } }> } } }).topology;
  for (let attempt = 0; attempt < 100; attempt++) {
    const [server] = topology.s.servers.values();
    const connection = server?.monitor.connection;
    if (connection && !connection.closed) return connection;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('the monitor never connected');
}

/** Settles with the command's outcome, or 'still waiting' after two seconds. */
function outcomeOf(command: Promise<unknown>): Promise<string> {
  return Promise.race([
    command.then(
      () => 'answered',
      (error: Error) => error.name,
    ),
    new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), 2000).unref()),
  ]);
}

t.test('a command on a connection whose socket is destroyed but not yet closed fails at once', async (t) => {
  const server = await startTestServer(t, 'closed_socket');
  const client = await connectClient(t, server.uri, { heartbeatFrequencyMS: 60_000 });
  const connection = await monitorConnection(client);

  connection.socket.destroy(); // its 'close' event is still to come, as when the peer hung up
  t.equal(connection.closed, false, 'the driver has not noticed yet');
  t.equal(await outcomeOf(connection.command(ns('admin.$cmd'), { hello: 1 }, {})), 'MongoNetworkError', 'the command fails with a network error');
  t.equal(connection.closed, true, 'and the connection is closed');
  t.same(await client.db(server.dbName).command({ ping: 1 }), { ok: 1 }, 'the client itself carries on');
});

t.test('a command whose write is buffered fails when the socket closes instead of waiting for drain', async (t) => {
  const server = await startTestServer(t, 'closed_while_buffered');
  const client = await connectClient(t, server.uri, { heartbeatFrequencyMS: 60_000 });
  const connection = await monitorConnection(client);

  // Cork the socket so the command's write stays buffered (write() answers false), then let the
  // socket close under it.
  connection.socket.cork();
  const write = connection.socket.write.bind(connection.socket);
  connection.socket.write = ((chunk: Buffer) => {
    write(chunk);
    setImmediate(() => connection.socket.destroy());
    return false;
  }) as typeof connection.socket.write;
  t.equal(await outcomeOf(connection.command(ns('admin.$cmd'), { hello: 1 }, {})), 'MongoNetworkError', 'the command fails with a network error');
});
