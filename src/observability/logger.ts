import pino, { type Logger, type DestinationStream } from 'pino';

/** Every path a secret could travel through. Tested: credentials never reach a log line, at any level. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'authorization',
  'password',
  'passwordHash',
  '*.password',
  '*.passwordHash',
  'connectionString',
  '*.connectionString',
  'AZURE_STORAGE_CONNECTION_STRING',
  'METRICS_TOKEN',
];

export interface LoggerOptions {
  level: string;
  pretty: boolean;
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const base = { level: opts.level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  if (opts.destination) return pino(base, opts.destination);
  if (opts.pretty)
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
  return pino(base);
}
