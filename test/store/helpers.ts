/**
 * Test plumbing for the store suite. Every test file gets its own database:
 * - by default an embedded store (in memory, port 0) started for the file;
 * - with MONGO_URL set, the real server at that url, so the same assertions run against
 *   MongoDB (a unique database name per file, dropped at the end).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import type { Db, MongoClientOptions } from 'mongodb';
import mongoose from 'mongoose';
import type { Connection } from 'mongoose';
import { startEmbeddedStore } from '../../src/store/embedded/index.js';
import type { EmbeddedStore, EmbeddedStoreOptions } from '../../src/store/embedded/index.js';

/** The subset of tap's Test the helpers need (avoids depending on tap's internal types). */
export interface TestLike {
  teardown(fn: () => unknown): void;
}

export const realMongoUrl = process.env.MONGO_URL;
export const usingRealMongo = realMongoUrl !== undefined && realMongoUrl !== '';
/** For tests that are about the embedded store itself (durability, lock file, CLI). */
export const embeddedOnly = usingRealMongo ? 'exercises the embedded store itself, not MongoDB semantics' : false;

export interface TestServer {
  uri: string;
  dbName: string;
}

export function uniqueDbName(label: string): string {
  return `medhub_test_${label.replace(/[^a-z0-9]/gi, '_')}_${randomBytes(3).toString('hex')}`;
}

/** The server for this file: the embedded store, or MONGO_URL when set. */
export async function startTestServer(t: TestLike, label: string, options: EmbeddedStoreOptions = {}): Promise<TestServer> {
  const dbName = uniqueDbName(label);
  if (usingRealMongo) {
    t.teardown(async () => {
      const client = await MongoClient.connect(realMongoUrl as string);
      await client.db(dbName).dropDatabase();
      await client.close();
    });
    return { uri: realMongoUrl as string, dbName };
  }
  const store = await startEmbeddedStore({ inMemory: true, port: 0, ...options });
  t.teardown(() => store.close());
  return { uri: store.uri, dbName };
}

export async function connectClient(t: TestLike, uri: string, options: MongoClientOptions = {}): Promise<MongoClient> {
  const client = await MongoClient.connect(uri, { serverSelectionTimeoutMS: 5000, ...options });
  t.teardown(() => client.close());
  return client;
}

export async function testDb(t: TestLike, label: string): Promise<{ db: Db; client: MongoClient; server: TestServer }> {
  const server = await startTestServer(t, label);
  const client = await connectClient(t, server.uri);
  return { db: client.db(server.dbName), client, server };
}

export async function connectMongoose(t: TestLike, server: TestServer): Promise<Connection> {
  const connection = await mongoose
    .createConnection(server.uri, { dbName: server.dbName, serverSelectionTimeoutMS: 5000, autoIndex: true })
    .asPromise();
  t.teardown(() => connection.close());
  return connection;
}

export async function temporaryDirectory(t: TestLike, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `medhub-store-${prefix}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** An embedded store journaling into a temporary directory, with a driver connected to it. */
export async function storeOnDisk(t: TestLike, label: string): Promise<{ dataDir: string; store: EmbeddedStore; client: MongoClient }> {
  const dataDir = await temporaryDirectory(t, label);
  const store = await startEmbeddedStore({ dataDir });
  t.teardown(() => store.close());
  const client = await MongoClient.connect(store.uri);
  t.teardown(() => client.close());
  return { dataDir, store, client };
}

/**
 * Tests store arbitrary `_id` types (numbers, strings, Long…); the driver's default
 * schema typing assumes ObjectId, so test collections use this loose shape.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyDocument = any;
