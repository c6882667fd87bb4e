import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs to stdout (journald under systemd). One child logger per component: `logger.child({ component })`. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** A logger that drops everything: for tests and CLI commands that must stay quiet. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
