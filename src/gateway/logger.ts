/**
 * The gateway's structured logger (pino, JSON lines on stderr so stdout stays for the CLI's
 * parseable lines). Level from config/env.ts unless given; 'silent' in tests.
 */
import pino, { type Logger } from 'pino';

export function makeLogger(level: string): Logger {
  return pino({ level, base: { svc: 'xdeepserve-gateway' } }, pino.destination(2));
}

export type { Logger };
