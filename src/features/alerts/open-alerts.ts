/**
 * The open alerts of a list of causes, in one query, however long the list (a
 * sweep asks for thousands): `{cause: {$in}, open: true}`, answered from the
 * `{cause: 1}` index restricted to open alerts — MongoDB's planner uses it, and
 * so does the embedded store's, as the filter pins the index's partial filter
 * (`open: true`) — so resolved alerts of a recurring cause are never read; the
 * embedded store tests each alert found against a long `$in` with a hashed list.
 * (Before the embedded store did both, long lists were asked by cause alone to
 * spare a test of each alert against the whole list.)
 */
import type { Model } from 'mongoose';
import type { AlertDoc } from './models.js';

export async function findOpenByCause(Alert: Model<AlertDoc>, causes: string[]): Promise<Map<string, AlertDoc>> {
  if (!causes.length) return new Map();
  const found = await Alert.find({ cause: { $in: causes }, open: true }).lean<AlertDoc[]>();
  return new Map(found.map((alert) => [alert.cause, alert]));
}
