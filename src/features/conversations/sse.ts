/**
 * Server-Sent Events on a Koa response (https://html.spec.whatwg.org/multipage/server-sent-events.html).
 * Koa is told to stay out of the response (`ctx.respond = false`); each event is written and flushed
 * at once (uncorked, Nagle off), a comment line keeps idle proxies from closing the stream, and a close
 * before `end()` means the client went away.
 */
import type { Context } from 'koa';

export interface EventStream {
  send(event: string, data: unknown): void;
  end(): void;
  /** Runs `fn` when the client goes away before `end()` (at once if it already has). */
  onAbort(fn: () => void): void;
  readonly open: boolean;
}

export function openEventStream(ctx: Context, options: { heartbeatMs: number }): EventStream {
  const res = ctx.res;
  ctx.respond = false;
  ctx.status = 200;
  let ended = false;
  // The client may already have gone while the request was being accepted.
  let aborted = res.destroyed || !res.socket || res.socket.destroyed;
  if (!aborted) {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // nginx and similar proxies buffer responses unless told not to.
      'X-Accel-Buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    res.flushHeaders();
  }

  const abortHandlers: Array<() => void> = [];
  const heartbeat = setInterval(() => write(': keep-alive\n\n'), options.heartbeatMs);
  heartbeat.unref();

  res.once('close', () => {
    clearInterval(heartbeat);
    if (ended && res.writableFinished) return;
    aborted = true;
    for (const fn of abortHandlers.splice(0)) fn();
  });

  function write(text: string): void {
    if (ended || aborted || res.destroyed) return;
    res.write(text);
    // Node's HTTP layer corks the socket on write and uncorks on the next tick, after whatever else the
    // current burst of work does (a batch of buffered upstream chunks): flush each event now instead.
    const socket = res.socket;
    if (socket && socket.writableCorked > 0) socket.uncork();
  }

  return {
    send(event, data) {
      write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    end() {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      if (!res.destroyed) res.end();
    },
    onAbort(fn) {
      if (aborted) fn();
      else abortHandlers.push(fn);
    },
    get open() {
      return !ended && !aborted && !res.destroyed;
    },
  };
}
