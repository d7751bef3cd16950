/** REST for users (admins), patients and care teams. Thin: validate, call the service, answer. */
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { PageRequest } from '../../../store/pagination.js';
import { validate, valid } from '../../../transports/http/validate.js';
import type { CareTeamInput, DirectoryService, PatientInput, UserCreate, UserUpdate } from '../directory-service.js';
import { actorOf } from '../http-auth.js';
import type { Role } from '../models.js';

type Id = { id: string };

export function registerDirectoryRoutes(router: Router, requireUser: Middleware, directory: DirectoryService): void {
  router.get('/users', requireUser, validate({ query: 'http/users-query' }), async (ctx) => {
    ctx.body = await directory.listUsers(actorOf(ctx), valid<PageRequest & { role?: Role }>(ctx.state, 'query'));
  });
  router.post('/users', requireUser, validate({ body: 'http/user-create' }), async (ctx) => {
    ctx.status = 201;
    ctx.body = await directory.createUser(actorOf(ctx), valid<UserCreate>(ctx.state, 'body'));
  });
  router.get('/users/:id', requireUser, validate({ params: 'http/id-params' }), async (ctx) => {
    ctx.body = await directory.getUser(actorOf(ctx), valid<Id>(ctx.state, 'params').id);
  });
  router.patch('/users/:id', requireUser, validate({ params: 'http/id-params', body: 'http/user-update' }), async (ctx) => {
    ctx.body = await directory.updateUser(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<UserUpdate>(ctx.state, 'body'));
  });

  router.get('/patients', requireUser, validate({ query: 'http/page-query' }), async (ctx) => {
    ctx.body = await directory.listPatients(actorOf(ctx), valid<PageRequest>(ctx.state, 'query'));
  });
  router.post('/patients', requireUser, validate({ body: 'http/patient-create' }), async (ctx) => {
    ctx.status = 201;
    ctx.body = await directory.createPatient(actorOf(ctx), valid<PatientInput>(ctx.state, 'body'));
  });
  router.get('/patients/:id', requireUser, validate({ params: 'http/id-params' }), async (ctx) => {
    ctx.body = await directory.getPatient(actorOf(ctx), valid<Id>(ctx.state, 'params').id);
  });
  router.patch('/patients/:id', requireUser, validate({ params: 'http/id-params', body: 'http/patient-update' }), async (ctx) => {
    ctx.body = await directory.updatePatient(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<Partial<PatientInput>>(ctx.state, 'body'));
  });

  router.get('/patients/:id/care-team', requireUser, validate({ params: 'http/id-params' }), async (ctx) => {
    ctx.body = await directory.listCareTeam(actorOf(ctx), valid<Id>(ctx.state, 'params').id);
  });
  router.post('/patients/:id/care-team', requireUser, validate({ params: 'http/id-params', body: 'http/care-team-add' }), async (ctx) => {
    ctx.body = await directory.putCareTeamMember(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<CareTeamInput>(ctx.state, 'body'));
  });
  router.delete('/patients/:id/care-team/:userId', requireUser, validate({ params: 'http/care-team-params' }), async (ctx) => {
    const { id, userId } = valid<Id & { userId: string }>(ctx.state, 'params');
    await directory.removeCareTeamMember(actorOf(ctx), id, userId);
    ctx.status = 204;
  });
}
