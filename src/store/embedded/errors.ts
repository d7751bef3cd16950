/**
 * MongoDB server errors as the driver expects them: `{ ok: 0, errmsg, code, codeName }`.
 * Codes and names come from mongod's src/mongo/base/error_codes.yml so that drivers
 * (and mongoose) classify them exactly as they would against a real server.
 */
import type { Document } from 'bson';

export const ErrorCodes = {
  InternalError: 1,
  BadValue: 2,
  NoSuchKey: 4,
  FailedToParse: 9,
  TypeMismatch: 14,
  IllegalOperation: 20,
  NamespaceNotFound: 26,
  IndexNotFound: 27,
  PathNotViable: 28,
  ConflictingUpdateOperators: 40,
  CursorNotFound: 43,
  NamespaceExists: 48,
  CommandNotFound: 59,
  ImmutableField: 66,
  InvalidOptions: 72,
  InvalidNamespace: 73,
  IndexOptionsConflict: 85,
  IndexKeySpecsConflict: 86,
  WriteConflict: 112,
  CommandNotSupported: 115,
  NoSuchTransaction: 251,
  OperationNotSupportedInTransaction: 263,
  Location40352: 40352,
  Location15975: 15975,
  DuplicateKey: 11000,
  Location17419: 17419,
  InvalidIdField: 53,
  UnknownError: 8,
  DollarPrefixedFieldName: 52,
  EmptyFieldName: 56,
  InvalidLength: 16,
  CannotCreateIndex: 67,
  DocumentValidationFailure: 121,
  BSONObjectTooLarge: 10334,
  Location17217: 17217,
} as const;

const codeNames: Record<number, string> = Object.fromEntries(
  Object.entries(ErrorCodes)
    .filter(([name]) => !name.startsWith('Location'))
    .map(([name, code]) => [code, name]),
);

export function codeNameOf(code: number): string {
  return codeNames[code] ?? `Location${code}`;
}

/** An error mongod would return; `extra` fields are merged into the reply (keyPattern, keyValue…). */
export class MongoServerFailure extends Error {
  readonly code: number;
  readonly codeName: string;
  readonly extra: Document;
  readonly errorLabels: string[];

  constructor(code: number, message: string, extra: Document = {}, errorLabels: string[] = []) {
    super(message);
    this.code = code;
    this.codeName = codeNameOf(code);
    this.extra = extra;
    this.errorLabels = errorLabels;
  }

  toReply(): Document {
    const reply: Document = { ok: 0, errmsg: this.message, code: this.code, codeName: this.codeName, ...this.extra };
    if (this.errorLabels.length > 0) reply.errorLabels = this.errorLabels;
    return reply;
  }

  /** The shape of one entry of a write command's `writeErrors` array. */
  toWriteError(index: number): Document {
    return { index, code: this.code, codeName: this.codeName, errmsg: this.message, ...this.extra };
  }
}

export function failure(code: number, message: string, extra?: Document): MongoServerFailure {
  return new MongoServerFailure(code, message, extra);
}

/** Any thrown value as a server failure; unexpected JS errors become InternalError (code 1). */
export function asServerFailure(error: unknown): MongoServerFailure {
  if (error instanceof MongoServerFailure) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new MongoServerFailure(ErrorCodes.InternalError, message);
}
