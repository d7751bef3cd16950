/**
 * The fake is a test helper others will build on (chat, summaries), so its less-travelled paths are
 * checked against the real SDK here: non-streaming replies, and usage only when the request asks.
 */
import OpenAI from 'openai';
import t from 'tap';
import { reply, startFakeOpenAIServer, type FakeOpenAIServer } from '../fakes/openai-server.js';

let server: FakeOpenAIServer;
let client: OpenAI;
t.before(async () => {
  server = await startFakeOpenAIServer({ apiKey: 'sk-fake' });
  client = new OpenAI({ apiKey: 'sk-fake', baseURL: server.baseURL, maxRetries: 0, logLevel: 'off' });
});
t.teardown(() => server.close());

const messages = [{ role: 'user' as const, content: 'hi' }];

t.test('a scripted reply folds into one chat.completion for non-streaming requests', async (t) => {
  server.enqueue(reply.toolCalls([{ id: 'call_1', name: 'get_next_dose', arguments: { medication: 'Metformin' } }], { text: 'Checking.' }));
  const completion = await client.chat.completions.create({ model: 'gpt-test', messages });
  t.equal(completion.object, 'chat.completion');
  t.equal(completion.model, 'gpt-test');
  const choice = completion.choices[0];
  t.equal(choice?.finish_reason, 'tool_calls');
  t.equal(choice?.message.content, 'Checking.');
  t.same(choice?.message.tool_calls, [{ id: 'call_1', type: 'function', function: { name: 'get_next_dose', arguments: '{"medication":"Metformin"}' } }]);
  t.same(completion.usage, { prompt_tokens: 40, completion_tokens: 20, total_tokens: 60 });

  server.enqueue(reply.errorMidStream({ message: 'boom', type: 'server_error' }));
  await t.rejects(client.chat.completions.create({ model: 'gpt-test', messages }), { message: /^500 /, status: 500 });
});

t.test('streams carry the usage chunk only when stream_options.include_usage is set', async (t) => {
  const usageChunks = async (includeUsage: boolean): Promise<number> => {
    server.enqueue(reply.text('One two.'));
    const stream = await client.chat.completions.create({ model: 'gpt-test', messages, stream: true, ...(includeUsage ? { stream_options: { include_usage: true } } : {}) });
    let count = 0;
    for await (const chunk of stream) if (chunk.usage && chunk.choices.length === 0) count += 1;
    return count;
  };
  t.equal(await usageChunks(true), 1);
  t.equal(await usageChunks(false), 0);
});

t.test('answers unknown paths and bad keys the way the API does', async (t) => {
  await t.rejects(new OpenAI({ apiKey: 'sk-other', baseURL: server.baseURL, maxRetries: 0, logLevel: 'off' }).chat.completions.create({ model: 'm', messages }), {
    status: 401,
    code: 'invalid_api_key',
  });
  await t.rejects(client.models.list(), { message: /^404 /, status: 404 });
  t.equal(server.requests.at(-1)?.path, '/v1/models');
});
