/**
 * Command dispatch: the command name is the first field of the body. Unknown commands get
 * mongod's CommandNotFound (59); thrown failures become `{ok: 0, code, codeName, errmsg}`.
 */
import type { Document } from 'bson';
import { ErrorCodes, MongoServerFailure, asServerFailure } from '../errors.js';
import { aggregateCommands } from './aggregate.js';
import { catalogCommands } from './catalog.js';
import type { CommandContext, CommandHandler } from './context.js';
import { deleteCommand } from './delete.js';
import { explainCommands } from './explain.js';
import { findAndModifyCommand } from './find-and-modify.js';
import { handshakeCommands } from './handshake.js';
import { indexCommands } from './indexes.js';
import { insertCommand } from './insert.js';
import { readCommands } from './read.js';
import { isSnapshotRead, isTransactionStatement, snapshotReadRefusal, transactionCommands, transactionRefusal } from './transactions.js';
import { updateCommand } from './update.js';

const handlers = new Map<string, CommandHandler>(
  Object.entries({
    ...handshakeCommands,
    ...catalogCommands,
    ...readCommands,
    ...aggregateCommands,
    ...indexCommands,
    ...transactionCommands,
    ...explainCommands,
    insert: insertCommand,
    update: updateCommand,
    delete: deleteCommand,
    findAndModify: findAndModifyCommand,
    findandmodify: findAndModifyCommand,
  }),
);

export function commandNameOf(command: Document): string {
  return Object.keys(command)[0] ?? '';
}

export async function dispatchCommand(ctx: CommandContext): Promise<Document> {
  const name = commandNameOf(ctx.command);
  const handler = handlers.get(name);
  try {
    if (handler === undefined) {
      throw new MongoServerFailure(ErrorCodes.CommandNotFound, `no such command: '${name}'`);
    }
    if (isTransactionStatement(ctx.command) && !(name in transactionCommands)) throw transactionRefusal();
    if (isSnapshotRead(ctx.command)) throw snapshotReadRefusal();
    return await handler(ctx);
  } catch (error) {
    const failure = asServerFailure(error);
    if (failure.code === ErrorCodes.InternalError) {
      ctx.engine.settings.logger.error({ command: name, err: failure.message }, 'embedded store command failed');
    }
    return failure.toReply();
  }
}
