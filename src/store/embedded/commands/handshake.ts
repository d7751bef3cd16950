/**
 * Connection handshake and server information: hello/isMaster, ping, buildInfo,
 * getParameter, endSessions and the few informational commands mongosh sends at start-up.
 */
import { ObjectId } from 'bson';
import type { Document } from 'bson';
import { MAX_BSON_OBJECT_SIZE } from '../engine/document-size.js';
import type { CommandContext, CommandHandler } from './context.js';

export const MAX_MESSAGE_SIZE_BYTES = 48_000_000;
export const MAX_WRITE_BATCH_SIZE = 100_000;
/** Wire version 21 = MongoDB 7.0. */
export const MAX_WIRE_VERSION = 21;
export const SERVER_VERSION = '7.0.0';

/** A fixed election id: this single member is always the primary of term 1. */
const ELECTION_ID = new ObjectId('7fffffff0000000000000001');

/**
 * A single-member replica-set primary. `topologyVersion` is deliberately absent: it turns on
 * the driver's awaitable (streaming) hello, which we do not implement. `compression` is absent
 * too, so drivers never compress.
 */
function helloReply(ctx: CommandContext, legacy: boolean): Document {
  const { settings } = ctx.engine;
  const me = settings.advertisedHost;
  const reply: Document = {
    helloOk: true,
    ...(legacy ? { ismaster: true } : { isWritablePrimary: true }),
    setName: settings.replSetName,
    setVersion: 1,
    hosts: [me],
    primary: me,
    me,
    secondary: false,
    electionId: ELECTION_ID,
    maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
    maxMessageSizeBytes: MAX_MESSAGE_SIZE_BYTES,
    maxWriteBatchSize: MAX_WRITE_BATCH_SIZE,
    localTime: new Date(),
    logicalSessionTimeoutMinutes: settings.logicalSessionTimeoutMinutes,
    connectionId: ctx.connection.id,
    minWireVersion: 0,
    maxWireVersion: MAX_WIRE_VERSION,
    readOnly: false,
    ok: 1,
  };
  return reply;
}

const buildInfo: CommandHandler = () => ({
  version: SERVER_VERSION,
  gitVersion: 'medhub-embedded-store',
  versionArray: [7, 0, 0, 0],
  bits: 64,
  debug: false,
  maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
  storageEngines: ['medhub-embedded'],
  javascriptEngine: 'none',
  modules: [],
  ok: 1,
});

/** Parameters clients ask for; everything else is reported as unknown like mongod does. */
const knownParameters: Record<string, () => unknown> = {
  featureCompatibilityVersion: () => ({ version: '7.0' }),
  authenticationMechanisms: () => [],
  requireApiVersion: () => false,
  transactionLifetimeLimitSeconds: () => 60,
};

const getParameter: CommandHandler = (ctx) => {
  const all = ctx.command.getParameter === '*';
  const reply: Document = {};
  for (const [name, value] of Object.entries(knownParameters)) {
    if (all || ctx.command[name] !== undefined) reply[name] = value();
  }
  if (!all && Object.keys(reply).length === 0) {
    return { ok: 0, errmsg: 'no option found to get', code: 2, codeName: 'BadValue' };
  }
  return { ...reply, ok: 1 };
};

const ok: CommandHandler = () => ({ ok: 1 });

export const handshakeCommands: Record<string, CommandHandler> = {
  hello: (ctx) => helloReply(ctx, false),
  isMaster: (ctx) => helloReply(ctx, true),
  ismaster: (ctx) => helloReply(ctx, true),
  ping: ok,
  buildInfo,
  buildinfo: buildInfo,
  getParameter,
  endSessions: ok,
  refreshSessions: ok,
  killSessions: ok,
  killAllSessions: ok,
  startSession: ok,
  whatsmyuri: (ctx) => ({ you: ctx.connection.remoteAddress, ok: 1 }),
  connectionStatus: () => ({ authInfo: { authenticatedUsers: [], authenticatedUserRoles: [] }, ok: 1 }),
  getCmdLineOpts: () => ({ argv: ['medhub-embedded-store'], parsed: {}, ok: 1 }),
  getLog: (ctx) => ({ totalLinesWritten: 0, log: [], ...(ctx.command.getLog === '*' ? { names: ['startupWarnings'] } : {}), ok: 1 }),
  hostInfo: () => ({ system: { currentTime: new Date(), hostname: 'medhub-embedded' }, os: {}, extra: {}, ok: 1 }),
  serverStatus: (ctx) => ({
    host: ctx.engine.settings.advertisedHost,
    version: SERVER_VERSION,
    process: 'medhub-embedded-store',
    uptime: Math.floor((Date.now() - ctx.engine.startedAt.getTime()) / 1000),
    localTime: new Date(),
    // What mongod's own tests check before expecting transactions to work.
    storageEngine: { name: 'medhub-embedded', supportsSnapshotReadConcern: false, persistent: ctx.engine.settings.persistent },
    ok: 1,
  }),
};
