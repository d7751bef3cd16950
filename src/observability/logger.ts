/**
 * Structured logs with pino. Health data never goes to logs: features log ids,
 * never message text, symptoms or transcripts. The redaction list is a safety
 * net for secrets that might slip into a logged object, not a licence to log
 * bodies.
 */
import { pino, type Logger, type DestinationStream } from 'pino';
import type { LogLevel } from '../config.js';

export type { Logger };

const REDACTED_PATHS = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'accessToken',
  'refreshToken',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  'content',
  '*.content',
  'text',
  '*.text',
  'transcript',
  '*.transcript',
  'symptom',
  '*.symptom',
];

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'medhub' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err },
    },
    destination,
  );
}
