/** oneAtATime: work of one key runs in turn, in the order asked, a failure not stopping the next; keys do not wait for each other. */
import t from 'tap';
import { oneAtATime } from '../../src/features/one-at-a-time.js';

const tick = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

t.test('one key: in turn and in order; another key: alongside', async (t) => {
  const run = oneAtATime();
  const log: string[] = [];
  const work = (name: string, ms: number, fail = false) => async () => {
    log.push(`${name} start`);
    await tick(ms);
    log.push(`${name} end`);
    if (fail) throw new Error(name);
    return name;
  };
  const results = await Promise.allSettled([run('a', work('a1', 30, true)), run('a', work('a2', 5)), run('b', work('b1', 10)), run('a', work('a3', 1))]);
  t.same(
    results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
    ['a1', 'a2', 'b1', 'a3'],
    'each caller gets its own outcome, a failure included',
  );
  const a = log.filter((line) => line.startsWith('a'));
  t.same(a, ['a1 start', 'a1 end', 'a2 start', 'a2 end', 'a3 start', 'a3 end'], 'a’s work one at a time, in order, past a failure');
  t.ok(log.indexOf('b1 start') < log.indexOf('a1 end'), 'b did not wait for a');
  t.equal(await run('a', async () => 'later'), 'later', 'and the key is free again');
});
