/**
 * Resolves once `promise` settles (either way), or after `ms` if it has not: for waits that must
 * end (shutdown, a queue behind a change that may never finish). The timer does not hold the process.
 */
export function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms).unref();
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    promise.then(done, done);
  });
}
