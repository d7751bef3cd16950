import { LanguageModelError } from '../../language-model.js';

export interface AttemptTimeouts {
  /** Budget until the first chunk, across the SDK's own retries and Retry-After sleeps. */
  firstChunkTimeoutMs: number;
  /** Longest silence allowed between two chunks once the stream flows. */
  idleTimeoutMs: number;
}

/**
 * Cancellation for one upstream attempt: the caller's signal plus a watchdog timer, folded into one
 * AbortSignal handed to the SDK. Aborting it closes the HTTP request.
 *
 * Why not rely on the SDK alone: its `timeout` stops at the response headers, its Retry-After sleep
 * cannot be interrupted, and when aborted mid-stream its iterator just ends quietly. This class records
 * why it aborted so the adapter can throw `cancelled` or `timeout` instead of a silent end.
 */
export class AttemptControl {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private reason: 'cancelled' | 'timeout' | undefined;

  constructor(
    private readonly callerSignal: AbortSignal,
    private readonly timeouts: AttemptTimeouts,
    private readonly provider: string,
  ) {
    if (callerSignal.aborted) this.abort('cancelled');
    else callerSignal.addEventListener('abort', this.onCallerAbort, { once: true });
    this.arm(timeouts.firstChunkTimeoutMs);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  chunkArrived(): void {
    this.arm(this.timeouts.idleTimeoutMs);
  }

  /** Settles with `promise`, or rejects as soon as this attempt is aborted (even mid SDK sleep). */
  race<T>(promise: PromiseLike<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(this.abortError() ?? new LanguageModelError('cancelled', { provider: this.provider }));
      if (this.signal.aborted) return onAbort();
      this.signal.addEventListener('abort', onAbort, { once: true });
      Promise.resolve(promise).then(
        (value) => {
          this.signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          this.signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  /** The error explaining an abort, if this attempt was aborted. */
  abortError(): LanguageModelError | undefined {
    return this.reason && new LanguageModelError(this.reason, { provider: this.provider });
  }

  /** Stops the timer and closes the upstream request if it is still open (e.g. the consumer broke off). */
  dispose(): void {
    clearTimeout(this.timer);
    this.callerSignal.removeEventListener('abort', this.onCallerAbort);
    if (!this.controller.signal.aborted) this.controller.abort();
  }

  private readonly onCallerAbort = (): void => this.abort('cancelled');

  private arm(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.abort('timeout'), ms);
  }

  private abort(reason: 'cancelled' | 'timeout'): void {
    if (this.controller.signal.aborted) return;
    this.reason = reason;
    clearTimeout(this.timer);
    this.controller.abort();
  }
}
