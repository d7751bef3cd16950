/** insert: per-document unique checks, writeErrors with the failing index, ordered semantics. */
import { ObjectId } from 'bson';
import type { Document } from 'bson';
import { ErrorCodes, asServerFailure, failure } from '../errors.js';
import { withIdFirst } from '../bson/elements.js';
import { isPlainDocument, moveIdFirst } from '../bson/values.js';
import { targetCollection } from './context.js';
import type { CommandHandler } from './context.js';
import { writeCommand } from './write-support.js';

/** `_id` first (generated when absent), and not an array, regex or undefined. */
export function prepareForInsert(raw: Document): Document {
  if (!isPlainDocument(raw)) throw failure(ErrorCodes.TypeMismatch, 'document to insert must be an object');
  const id = raw._id;
  if (Array.isArray(id)) throw failure(ErrorCodes.InvalidIdField, "The '_id' value cannot be of type array");
  if (id instanceof RegExp) throw failure(ErrorCodes.InvalidIdField, "The '_id' value cannot be of type regex");
  if (id === undefined) return { _id: new ObjectId(), ...raw };
  return moveIdFirst(raw);
}

/**
 * The stored document's BSON, made from the bytes it arrived as (so that the journal copies
 * them instead of serializing the document again): as received, or with its `_id` moved or
 * generated first. Undefined when there is nothing to start from.
 */
function encodingOf(received: Document, stored: Document, bytes: Uint8Array | undefined): Uint8Array | undefined {
  if (bytes === undefined || stored === received) return bytes;
  if (!Object.hasOwn(received, '_id')) return stored._id instanceof ObjectId ? withIdFirst(bytes, stored._id.id) : undefined;
  return received._id === undefined ? undefined : withIdFirst(bytes);
}

export const insertCommand: CommandHandler = writeCommand((ctx, log) => {
  const documents = ctx.command.documents;
  if (!Array.isArray(documents)) throw failure(ErrorCodes.FailedToParse, "BSON field 'insert.documents' is missing but a required field");
  const ordered = ctx.command.ordered !== false;
  const { catalog } = ctx.engine;
  const collection = catalog.getOrCreate(ctx.db, targetCollection(ctx), log);
  const writeErrors: Document[] = [];
  let inserted = 0;
  for (let index = 0; index < documents.length; index++) {
    try {
      const received = documents[index] as Document;
      const doc = prepareForInsert(received);
      catalog.insert(collection, doc, log, encodingOf(received, doc, ctx.documentBytes?.[index]));
      inserted += 1;
    } catch (error) {
      writeErrors.push(asServerFailure(error).toWriteError(index));
      // ordered:true stops at the first failure; ordered:false carries on.
      if (ordered) break;
    }
  }
  const reply: Document = { n: inserted, ok: 1 };
  if (writeErrors.length > 0) reply.writeErrors = writeErrors;
  return reply;
});
