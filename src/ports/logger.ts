/**
 * The logger every port adapter accepts: pino-shaped (`logger.warn(obj, msg)`), so `main.ts` can pass
 * a pino child logger unchanged.
 *
 * Health data rule (ARCHITECTURE §4): adapters put ids, codes, counts and durations in `obj`, and a fixed
 * English sentence in `msg`. Never message text, symptoms, transcripts or upstream error text.
 */
export interface PortLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const ignore = (): void => {};

export const silentLogger: PortLogger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
