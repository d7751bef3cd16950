/**
 * Route-level validation against schemas/ (the Outline pattern: a validate
 * middleware per route). Bodies are validated strictly — unknown fields are
 * rejected, so no caller can mass-assign a role or an organisation — and query
 * strings and path params are coerced from text to the schema's types.
 */
import type { Middleware } from 'koa';
import { AppError } from '../../errors.js';
import { schemas } from '../../schemas.js';

export interface ValidateSpec {
  body?: string;
  query?: string;
  params?: string;
}

export interface ValidatedState {
  body?: unknown;
  query?: unknown;
  params?: unknown;
}

export function validate(spec: ValidateSpec): Middleware {
  const registry = schemas();
  return async function validateRequest(ctx, next) {
    const validated: ValidatedState = {};
    if (spec.params) validated.params = registry.coerce(spec.params, { ...(ctx as { params?: object }).params });
    if (spec.query) validated.query = registry.coerce(spec.query, { ...ctx.query });
    if (spec.body) {
      if (ctx.request.length && !ctx.is('application/json')) {
        throw new AppError('unsupported_media_type', 'The request body must be application/json');
      }
      validated.body = registry.validate(spec.body, (ctx.request as { body?: unknown }).body ?? {});
    }
    ctx.state.valid = validated;
    await next();
  };
}

/** Typed access to what `validate` checked. */
export function valid<T>(state: { valid?: ValidatedState }, part: keyof ValidatedState): T {
  return state.valid?.[part] as T;
}
