/**
 * The open alerts of a list of causes, in one query. A short list asks for the
 * open ones. A long list (a sweep's) asks by cause alone and drops resolved
 * alerts here: the embedded store answers `cause: {$in}` from its cause index,
 * and when the filter holds nothing else it skips testing each alert found
 * against the whole list again — a test that costs causes × causes (81 million
 * comparisons for 9,000 causes). A dose's cause never recurs, so few resolved
 * alerts come along; a device's recurring causes come in short lists.
 */
import type { Model } from 'mongoose';
import type { AlertDoc } from './models.js';

/** Above this many causes, ask by cause alone. */
export const LONG_CAUSE_LIST = 40;

export async function findOpenByCause(Alert: Model<AlertDoc>, causes: string[]): Promise<Map<string, AlertDoc>> {
  if (!causes.length) return new Map();
  const found = causes.length > LONG_CAUSE_LIST ? await Alert.find({ cause: { $in: causes } }).lean<AlertDoc[]>() : await Alert.find({ cause: { $in: causes }, open: true }).lean<AlertDoc[]>();
  return new Map(found.filter((alert) => alert.open).map((alert) => [alert.cause, alert]));
}
