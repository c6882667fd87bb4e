import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/**
 * Secrets never reach the log, whatever object a caller logs: API keys, passwords, tokens and the
 * request headers that carry them. (URLs with credentials are redacted where they are logged.)
 */
export const REDACT_PATHS = [
  'key',
  '*.key',
  'password',
  '*.password',
  '*.*.password',
  'bearerToken',
  '*.bearerToken',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
];

export interface LoggerOptions {
  /** Human-readable, coloured lines instead of JSON (default: when stdout is a terminal). */
  pretty?: boolean;
  /** Where lines go (default stdout); tests pass a stream. */
  destination?: NodeJS.WritableStream;
}

/**
 * JSON logs to stdout (journald under systemd), pretty lines when stdout is a terminal. One child
 * logger per component: `logger.child({ component })`; values go in fields, not in the message.
 */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', options: LoggerOptions = {}): Logger {
  const base = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  if (options.pretty ?? process.stdout.isTTY === true) {
    // Synchronous on purpose: the last lines before an exit are not lost in a worker thread.
    return pino(
      base,
      pretty({
        colorize: options.destination === undefined,
        sync: true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname',
        ...(options.destination ? { destination: options.destination } : {}),
      }),
    );
  }
  // Levels as names (`"level":"warn"`), not pino's numbers: `jq 'select(.level == "error")'` reads as it says.
  const json = { ...base, formatters: { level: (label: string) => ({ level: label }) } };
  return options.destination ? pino(json, options.destination) : pino(json);
}

/** A logger that drops everything: for tests and CLI commands that must stay quiet. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
