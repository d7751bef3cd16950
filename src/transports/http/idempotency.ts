/**
 * `Idempotency-Key` for REST writes (draft-ietf-httpapi-idempotency-key-header, with Stripe's
 * behaviour where the draft leaves a choice). A client that may retry a POST/PUT/PATCH/DELETE sends
 * a key; the first request runs, its final response is stored for 24 h and a retry with the same key
 * gets that response back byte for byte (`Idempotent-Replayed: true`) instead of running again.
 *
 * - Keys are scoped to the caller (`user:{id}`, or `device:{id}` on device-authenticated routes), so
 *   two callers never see each other's answers, and a replay needs the caller to authenticate again.
 * - The same key with another method, target or body is a client bug: 422 `idempotency_key_reused`.
 * - A retry while the first is still running is 409 `conflict` with `Retry-After: 1`. The lock is a
 *   "processing" record under a unique (scope, key) index, so it holds across hub instances; it is a
 *   lease renewed while the handler runs, so a crashed instance does not block the key for a day.
 * - Stored: 2xx and the deterministic client errors (400/404/409/410/422). Not stored (the key is
 *   released and a retry runs again): 5xx and 429 (transient), 401/403 (they change with sessions and
 *   roles, and nothing ran), and streamed answers — an SSE stream cannot be replayed, so a key on a
 *   `stream: true` request is refused with 400 up front rather than silently ignored.
 * - Routes without a caller (sign-in, refresh) ignore the key: their answers are credentials; so do
 *   routes marked `answersWithCredentials` (a voice session's short-lived provider token).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';
import type Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import { Schema, type Connection, type Model, type Types } from 'mongoose';
import { AppError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import { writeProblem } from './problem.js';
import { isDuplicateKey } from '../../store/duplicate-key.js';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** The draft's key is opaque; 1–255 visible ASCII characters (a quoted sf-string fits, quotes and all). */
const KEY_FORMAT = /^[\x21-\x7e]{1,255}$/;
const RETENTION_MS = 24 * 60 * 60 * 1000;
const LEASE_MS = 30_000;
const RENEW_EVERY_MS = LEASE_MS / 3;
/** Client errors that the same request would get again; anything else 4xx is not worth pinning for 24 h. */
const STORED_CLIENT_ERRORS = new Set([400, 404, 409, 410, 422]);
/** Response headers that are part of the answer (the rest — request id, CORS, length — belong to each exchange). */
const REPLAYED_HEADERS = ['content-type', 'location', 'cache-control', 'etag'];

export interface IdempotencyRecord {
  _id: Types.ObjectId;
  scope: string;
  /** SHA-256 of the key: the key itself, which also protects the stored body, never reaches the database. */
  keyHash: string;
  method: string;
  target: string;
  bodyHash: string;
  state: 'processing' | 'done';
  owner: string | null;
  lockedUntil: Date | null;
  status: number | null;
  headers: Record<string, string> | null;
  /** AES-256-GCM (iv | tag | ciphertext), see `seal`. */
  body: Buffer | null;
  expiresAt: Date;
}

const recordSchema = new Schema<IdempotencyRecord>(
  {
    scope: { type: String, required: true },
    keyHash: { type: String, required: true },
    method: { type: String, required: true },
    target: { type: String, required: true },
    bodyHash: { type: String, required: true },
    state: { type: String, enum: ['processing', 'done'], required: true },
    owner: { type: String, default: null },
    lockedUntil: { type: Date, default: null },
    status: { type: Number, default: null },
    headers: { type: Schema.Types.Mixed, default: null },
    body: { type: Buffer, default: null },
    expiresAt: { type: Date, required: true },
  },
  { versionKey: false },
);
// One record per caller and key: the insert that wins is the one request allowed to run.
recordSchema.index({ scope: 1, keyHash: 1 }, { unique: true });
recordSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });

export function idempotencyModel(connection: Connection): Model<IdempotencyRecord> {
  return (connection.models.IdempotencyKey as Model<IdempotencyRecord> | undefined) ?? connection.model<IdempotencyRecord>('IdempotencyKey', recordSchema, 'idempotency_keys');
}

/** Creates the store (and its indexes) and guards every write route registered on `router` so far. */
export async function mountIdempotency(router: Router, deps: { connection: Connection; clock: Clock; logger: Logger }): Promise<Middleware> {
  const model = idempotencyModel(deps.connection);
  await model.init();
  const middleware = idempotency(createKeyStore(model, deps.clock), deps.logger.child({ component: 'idempotency' }));
  guardWriteRoutes(router, middleware);
  return middleware;
}

/**
 * Runs `middleware` in every write route just before its handler. Routes are declared
 * `router.post(path, authenticate, validate, handler)`, so at that point the caller is known (the key's
 * scope) and the body is checked; a router-wide `use` would run before authentication.
 */
export function guardWriteRoutes(router: Router, middleware: Middleware): void {
  for (const layer of router.stack) {
    if (!layer.methods.some((method) => WRITE_METHODS.has(method)) || layer.stack.includes(middleware)) continue;
    layer.stack.splice(layer.stack.length - 1, 0, middleware);
  }
}

/**
 * Marks a route whose answer is a short-lived credential (a voice session's provider token): its
 * Idempotency-Key is ignored, as sign-in's is, since a replayed answer would hand out a dead token.
 */
export const answersWithCredentials: Middleware = async (ctx, next) => {
  (ctx.state as { answersWithCredentials?: boolean }).answersWithCredentials = true;
  await next();
};

export function idempotency(store: KeyStore, logger: Logger): Middleware {
  return async function idempotentWrite(ctx, next) {
    if ((ctx.state as { answersWithCredentials?: boolean }).answersWithCredentials) return next();
    const key = requestKey(ctx);
    const scope = key === undefined ? undefined : callerScope(ctx);
    if (key === undefined || !scope || !WRITE_METHODS.has(ctx.method)) return next();
    if ((ctx.request.body as { stream?: unknown } | undefined)?.stream === true) {
      throw new AppError('validation_failed', 'Idempotency-Key cannot be used with stream:true (an event stream cannot be replayed); send stream:false for a replayable answer');
    }
    const claim = await store.claim(scope, key, fingerprint(ctx));
    if (claim.replay) return replay(ctx, claim.replay, key);
    await runAsOwner(ctx, next, store, claim.owner, key, logger);
  };
}

/** The header, if sent; a malformed one is a 400 rather than a silently unprotected write. */
function requestKey(ctx: Context): string | undefined {
  const value = ctx.request.headers['idempotency-key'];
  if (value === undefined) return undefined;
  // Node joins repeated fields with ", ", which the format refuses: one key per request.
  if (typeof value !== 'string' || !KEY_FORMAT.test(value)) {
    throw new AppError('validation_failed', 'Idempotency-Key must be 1 to 255 visible ASCII characters', { details: [{ path: 'header:Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' }] });
  }
  return value;
}

/** Who the key belongs to, as set by the identity and device authentication middleware. */
function callerScope(ctx: Context): string | undefined {
  const state = ctx.state as { principal?: { userId?: string }; device?: { deviceId?: string } };
  if (state.device?.deviceId) return `device:${state.device.deviceId}`;
  if (state.principal?.userId) return `user:${state.principal.userId}`;
  return undefined;
}

export interface RequestFingerprint {
  method: string;
  target: string;
  bodyHash: string;
}

/** Method, path with query, and a hash of the body as canonical JSON (key order and spacing do not matter). */
function fingerprint(ctx: Context): RequestFingerprint {
  const body = canonicalJson((ctx.request as { body?: unknown }).body);
  return { method: ctx.method, target: ctx.url, bodyHash: createHash('sha256').update(body).digest('hex') };
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? '';
}

async function runAsOwner(ctx: Context, next: Next, store: KeyStore, owner: Owner, key: string, logger: Logger): Promise<void> {
  const renewal = setInterval(() => void store.renew(owner).catch((error: unknown) => logger.warn({ err: error }, 'could not renew an idempotency lease')), RENEW_EVERY_MS);
  renewal.unref();
  try {
    await runHandler(ctx, next);
  } catch (error) {
    // Transient or unexpected failure: free the key so the client's retry runs again.
    await store.release(owner).catch((releaseError: unknown) => logger.warn({ err: releaseError }, 'could not release an idempotency key'));
    throw error;
  } finally {
    clearInterval(renewal);
  }
  const response = storable(ctx.status) ? captureResponse(ctx) : undefined;
  if (!response && ctx.respond === false) logger.warn({ requestId: ctx.state.requestId, route: ctx.path }, 'a streamed response cannot be replayed; idempotency key released');
  // The write has happened: a failure to record it is logged, never turned into an error for the caller.
  await (response ? store.complete(owner, response, key) : store.release(owner)).catch((error: unknown) => {
    logger.warn({ err: error, requestId: ctx.state.requestId }, 'could not record an idempotent response');
    return store.release(owner).catch(() => undefined);
  });
}

/** Renders the deterministic client errors here (as the problem middleware would) so they can be stored. */
async function runHandler(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (error) {
    if (!(error instanceof AppError) || !storable(error.status)) throw error;
    writeProblem(ctx, error);
  }
}

const storable = (status: number): boolean => (status >= 200 && status < 300) || STORED_CLIENT_ERRORS.has(status);

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** The exact bytes that will be sent, or undefined for a body that is not a value (streams, raw responses). */
function captureResponse(ctx: Context): StoredResponse | undefined {
  if (ctx.respond === false) return undefined;
  // "Ask again later" (a 409 or 429 with Retry-After): replaying it would answer the retry it asks for.
  if (ctx.response.get('Retry-After')) return undefined;
  const body: unknown = ctx.body;
  // Koa's untouched default: the handler gave no answer (e.g. a chat turn cancelled because the client
  // went away), so the client's retry must run, not get an empty 404 back.
  if (body === undefined && ctx.status === 404) return undefined;
  let bytes: Buffer;
  if (body === null || body === undefined) bytes = Buffer.alloc(0);
  else if (Buffer.isBuffer(body)) bytes = body;
  else if (typeof body === 'string') bytes = Buffer.from(body);
  else if (isStreamLike(body)) return undefined;
  else {
    // Serialize once ourselves (as Koa would) so that what is stored is what is sent.
    const text = JSON.stringify(body);
    ctx.body = text;
    bytes = Buffer.from(text);
  }
  const headers: Record<string, string> = {};
  for (const name of REPLAYED_HEADERS) {
    const value = ctx.response.get(name);
    if (value) headers[name] = value;
  }
  return { status: ctx.status, headers, body: bytes };
}

function isStreamLike(body: unknown): boolean {
  return typeof (body as { pipe?: unknown }).pipe === 'function' || body instanceof ReadableStream || body instanceof Blob || body instanceof Response;
}

function replay(ctx: Context, record: IdempotencyRecord, key: string): void {
  ctx.status = record.status ?? 200;
  ctx.set(record.headers ?? {});
  ctx.set('Idempotent-Replayed', 'true');
  const body = record.body ? open(bytesOf(record.body), record.scope, key) : Buffer.alloc(0);
  // An empty body is left unset so Koa answers exactly as it did the first time.
  if (body.length > 0) ctx.body = body;
}

// Stored bodies can carry secrets shown once (a provisioned device's secret). They are sealed with a
// key derived from the Idempotency-Key, which only the client holds (the database keeps its hash), so
// a copy of the database does not reveal them.
function bodyCipherKey(scope: string, key: string): Buffer {
  return createHash('sha256').update(`medhub/idempotency/body\0${scope}\0${key}`).digest();
}

function seal(plain: Buffer, scope: string, key: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', bodyCipherKey(scope, key), iv);
  const data = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), data]);
}

function open(sealed: Buffer, scope: string, key: string): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', bodyCipherKey(scope, key), sealed.subarray(0, 12));
  decipher.setAuthTag(sealed.subarray(12, 28));
  return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]);
}

/** lean() reads BSON binary as a bson Binary, not a Buffer. */
function bytesOf(value: Buffer | { buffer: Uint8Array }): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer);
}

export function keyHash(scope: string, key: string): string {
  return createHash('sha256').update(`medhub/idempotency/key\0${scope}\0${key}`).digest('hex');
}

export interface Owner {
  id: Types.ObjectId;
  token: string;
  scope: string;
}

export type Claim = { owner: Owner; replay?: undefined } | { replay: IdempotencyRecord; owner?: undefined };

export interface KeyStore {
  /** Becomes the one request running for (scope, key), or gets the stored answer; throws 409/422. */
  claim(scope: string, key: string, request: RequestFingerprint): Promise<Claim>;
  renew(owner: Owner): Promise<void>;
  complete(owner: Owner, response: StoredResponse, key: string): Promise<void>;
  release(owner: Owner): Promise<void>;
}

export function createKeyStore(model: Model<IdempotencyRecord>, clock: Clock): KeyStore {
  const leaseEnd = (): Date => new Date(clock.now().getTime() + LEASE_MS);

  async function insert(scope: string, hash: string, request: RequestFingerprint): Promise<Owner | undefined> {
    const token = randomUUID();
    // The TTL monitor deletes by the database's wall clock, so expiry is wall time, not the hub's Clock.
    const expiresAt = new Date(Date.now() + RETENTION_MS);
    try {
      const created = await model.create({ scope, keyHash: hash, ...request, state: 'processing', owner: token, lockedUntil: leaseEnd(), expiresAt });
      return { id: created._id, token, scope };
    } catch (error) {
      if (isDuplicateKey(error)) return undefined;
      throw error;
    }
  }

  /** The owner of a lease that ran out (its instance died) is replaced, atomically, by this request. */
  async function takeOver(existing: IdempotencyRecord): Promise<Owner | undefined> {
    const token = randomUUID();
    const taken = await model.updateOne({ _id: existing._id, state: 'processing', owner: existing.owner }, { $set: { owner: token, lockedUntil: leaseEnd() } });
    return taken.modifiedCount === 1 ? { id: existing._id, token, scope: existing.scope } : undefined;
  }

  return {
    async claim(scope, key, request) {
      const hash = keyHash(scope, key);
      // A few rounds: the record we collided with may be released or taken over between our reads.
      for (let round = 0; round < 3; round++) {
        const owner = await insert(scope, hash, request);
        if (owner) return { owner };
        const existing = await model.findOne({ scope, keyHash: hash }).lean<IdempotencyRecord>();
        if (!existing) continue;
        if (existing.method !== request.method || existing.target !== request.target || existing.bodyHash !== request.bodyHash) {
          throw new AppError('idempotency_key_reused', `This Idempotency-Key was already used for another request (${existing.method} ${existing.target.split('?')[0]} with its own body); use a new key for a new request`);
        }
        if (existing.state === 'done') return { replay: existing };
        if (existing.lockedUntil && existing.lockedUntil > clock.now()) break;
        const tookOver = await takeOver(existing);
        if (tookOver) return { owner: tookOver };
      }
      throw new AppError('conflict', 'A request with this Idempotency-Key is still being processed; retry shortly', { headers: { 'Retry-After': '1' } });
    },
    async renew(owner) {
      await model.updateOne({ _id: owner.id, owner: owner.token }, { $set: { lockedUntil: leaseEnd() } });
    },
    async complete(owner, response, key) {
      const sealed = seal(response.body, owner.scope, key);
      await model.updateOne(
        { _id: owner.id, owner: owner.token },
        { $set: { state: 'done', owner: null, lockedUntil: null, status: response.status, headers: response.headers, body: sealed } },
      );
    },
    async release(owner) {
      await model.deleteOne({ _id: owner.id, owner: owner.token });
    },
  };
}
