/** REST for voice sessions. Thin: validate, call the service, answer. */
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { VoiceFunctionCallRequest } from '../../generated/http/voice-function-call.js';
import { answersWithCredentials } from '../../transports/http/idempotency.js';
import { validate, valid } from '../../transports/http/validate.js';
import { actorOf } from '../identity/http-auth.js';
import type { TranscriptInput, VoiceService } from './service.js';

export function registerVoiceRoutes(router: Router, requireUser: Middleware, service: VoiceService): void {
  // A session's answer is a token that lives seconds: never replayed for an Idempotency-Key.
  router.post('/voice/sessions', requireUser, answersWithCredentials, validate({ body: 'http/voice-session-create' }), async (ctx) => {
    ctx.status = 201;
    ctx.body = await service.start(actorOf(ctx), valid<{ patientId: string }>(ctx.state, 'body'));
  });
  router.post('/voice/sessions/:id/function-calls', requireUser, validate({ params: 'http/id-params', body: 'http/voice-function-call' }), async (ctx) => {
    const request = valid<VoiceFunctionCallRequest>(ctx.state, 'body');
    ctx.body = await service.relay(actorOf(ctx), valid<{ id: string }>(ctx.state, 'params').id, request.functions);
  });
  router.post('/voice/sessions/:id/transcript', requireUser, validate({ params: 'http/id-params', body: 'http/voice-transcript' }), async (ctx) => {
    ctx.body = await service.transcript(actorOf(ctx), valid<{ id: string }>(ctx.state, 'params').id, valid<{ lines: TranscriptInput[] }>(ctx.state, 'body').lines);
  });
}
