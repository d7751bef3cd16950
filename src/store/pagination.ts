/**
 * Cursor pagination, newest first. The cursor is the opaque last `_id` of a
 * page (ObjectIds grow with time), so pages stay stable while new documents
 * arrive — unlike skip/limit.
 */
import { Types, type QueryFilter, type Model, type Schema } from 'mongoose';
import { AppError } from '../errors.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null;
}

export interface PageRequest {
  cursor?: string;
  limit?: number;
}

type Id = Types.ObjectId | string;
/** The tag a cursor carries: `o` for an ObjectId, `s` for a string id. */
type IdKind = 'o' | 's';

/** Ids are ObjectIds or strings (devices, commands); the cursor remembers which. */
export function encodeCursor(id: Id): string {
  const tagged = id instanceof Types.ObjectId ? `o:${id.toHexString()}` : `s:${id}`;
  return Buffer.from(tagged, 'utf8').toString('base64url');
}

/**
 * The id in a cursor, which must be of the `kind` of the paged collection's `_id`. A cursor of the
 * other kind was not handed out for this list (a string id cannot be cast to compare with
 * ObjectIds; an ObjectId would be compared with string ids as text), so it is refused like any
 * other bad cursor.
 */
export function decodeCursor(cursor: string, kind: IdKind): Id {
  const tagged = Buffer.from(cursor, 'base64url').toString('utf8');
  if (kind === 'o' && /^o:[a-f0-9]{24}$/.test(tagged)) return new Types.ObjectId(tagged.slice(2));
  if (kind === 's' && /^s:[A-Za-z0-9_-]{1,64}$/.test(tagged)) return tagged.slice(2);
  throw new AppError('validation_failed', 'The cursor is not valid', { details: [{ path: '/cursor', message: 'is not a cursor from this API' }] });
}

/** Read from the model's schema, so callers cannot pass the wrong kind for the collection they page. */
function idKindOf(schema: Schema): IdKind {
  return schema.path('_id').instance === 'ObjectId' ? 'o' : 's';
}

export async function paginate<D extends { _id: Id }, V>(
  model: Model<D>,
  filter: QueryFilter<D>,
  page: PageRequest,
  view: (doc: D) => V,
): Promise<Page<V>> {
  const limit = Math.min(page.limit ?? DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const scoped: QueryFilter<D> = page.cursor ? { $and: [filter, { _id: { $lt: decodeCursor(page.cursor, idKindOf(model.schema)) } }] } as QueryFilter<D> : filter;
  const docs = (await model.find(scoped).sort({ _id: -1 }).limit(limit + 1).lean()) as D[];
  const items = docs.slice(0, limit);
  const last = items[items.length - 1];
  return { items: items.map(view), nextCursor: docs.length > limit && last ? encodeCursor(last._id) : null };
}
