/**
 * A small Deepgram REST server for tests: real HTTP on 127.0.0.1, port 0.
 *
 * `POST /v1/auth/grant` behaves like Deepgram's (NOTES.md "Deepgram Voice Agent"): it wants
 * `Authorization: Token <apiKey>` and an optional JSON body `{ttl_seconds}` (1–3600, default 30), and
 * answers `{access_token, expires_in}` with a JWT-shaped token. Errors use Deepgram's body shape
 * `{err_code, err_msg, request_id}`. Replies can be scripted per request (`enqueue`), and every request is
 * recorded with headers and body.
 *
 *     const server = await startFakeDeepgramServer({ apiKey: 'dg-test' });
 *     server.enqueue(deepgramReply.error(429, 'TOO_MANY_REQUESTS', 'Slow down'));
 *     new DeepgramClient({ apiKey: 'dg-test', baseUrl: server.baseUrl });
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type DeepgramReply =
  | { kind: 'status'; status: number; body: unknown; headers?: Record<string, string> }
  /** Never answer; the connection stays open until the client gives up. */
  | { kind: 'hang' };

export interface RecordedDeepgramRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown> | undefined;
}

export interface FakeDeepgramServer {
  /** `http://127.0.0.1:<port>`, what the SDK's `baseUrl` should be. */
  readonly baseUrl: string;
  readonly requests: readonly RecordedDeepgramRequest[];
  /** Every token this server issued, so tests can check none leaked into logs. */
  readonly issuedTokens: readonly string[];
  enqueue(...replies: DeepgramReply[]): void;
  close(): Promise<void>;
}

export const deepgramReply = {
  error(status: number, errCode: string, errMsg: string, headers: Record<string, string> = {}): DeepgramReply {
    return { kind: 'status', status, body: { err_code: errCode, err_msg: errMsg, request_id: randomUUID() }, headers };
  },
  hang(): DeepgramReply {
    return { kind: 'hang' };
  },
};

export async function startFakeDeepgramServer(options: { apiKey: string }): Promise<FakeDeepgramServer> {
  const queue: DeepgramReply[] = [];
  const requests: RecordedDeepgramRequest[] = [];
  const issuedTokens: string[] = [];

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      console.error('fake Deepgram server failed', error);
      res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req);
    requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });

    if (req.method !== 'POST' || req.url !== '/v1/auth/grant') return send(res, deepgramReply.error(404, 'NOT_FOUND', 'Not found'));
    if (req.headers.authorization !== `Token ${options.apiKey}`) return send(res, deepgramReply.error(401, 'INVALID_AUTH', 'Invalid credentials.'));
    const scripted = queue.shift();
    if (scripted) return send(res, scripted);

    const ttl = body?.['ttl_seconds'] ?? 30;
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > 3600) {
      return send(res, deepgramReply.error(400, 'Bad Request', 'ttl_seconds must be an integer between 1 and 3600'));
    }
    const token = fakeJwt(ttl);
    issuedTokens.push(token);
    send(res, { kind: 'status', status: 200, body: { access_token: token, expires_in: ttl } });
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');

  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    issuedTokens,
    enqueue: (...replies) => void queue.push(...replies),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function send(res: ServerResponse, reply: DeepgramReply): void {
  if (reply.kind === 'hang') return;
  res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
  res.end(JSON.stringify(reply.body));
}

function fakeJwt(ttlSeconds: number): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return [encode({ alg: 'HS256', typ: 'JWT' }), encode({ sub: randomUUID(), iat: now, exp: now + ttlSeconds, scopes: ['usage:write'] }), 'fake-signature'].join('.');
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
