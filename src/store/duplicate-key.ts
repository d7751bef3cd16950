/** MongoDB's duplicate key error (E11000), as the driver raises it: a unique index refused the write. */
export function isDuplicateKey(error: unknown): boolean {
  return (error as { code?: number } | null)?.code === 11000;
}
