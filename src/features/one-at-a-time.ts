/**
 * Runs work one at a time per key, in the order it was asked for, within this process: for work
 * that reads some state and then writes what it derived from it, so that a later run never
 * writes something derived from older state than an earlier run read.
 */
export function oneAtATime() {
  const tails = new Map<string, Promise<unknown>>();
  return function run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    tails.set(key, tail);
    void tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key);
    });
    return result;
  };
}
