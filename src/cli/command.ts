/** The shape of one CLI subcommand, and the shared flag parser (node:util parseArgs). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { XdsError } from '../core/errors.js';

export interface Command {
  readonly name: string;
  /** One line for `xdeepserve --help`. */
  readonly summary: string;
  /** Full usage text for `xdeepserve NAME --help`. */
  readonly usage: string;
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses flags strictly; an unknown or malformed flag is an XdsError naming it. */
export function parseFlags<O extends Options>(argv: string[], options: O): ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new XdsError('invalid_argument', (e as Error).message);
  }
}

/** Reads a numeric flag, naming it when it is not a number in range. */
export function numberFlag(value: string | undefined, name: string, fallback: number, min = -Infinity, max = Infinity): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new XdsError('invalid_argument', `--${name} must be a number in [${min}, ${max}], got '${value}'`, { param: name });
  }
  return n;
}

/** Reads an integer flag, naming it when it is not an integer in range. */
export function integerFlag(value: string | undefined, name: string, fallback: number, min = -Infinity, max = Infinity): number {
  const n = numberFlag(value, name, fallback, min, max);
  if (!Number.isInteger(n)) throw new XdsError('invalid_argument', `--${name} must be an integer, got '${value}'`, { param: name });
  return n;
}

/** Reads a flag that must be given (and not empty), naming it and the command's --help otherwise. */
export function requiredFlag(value: string | undefined, name: string, command: string): string {
  if (value === undefined || value === '') throw new XdsError('invalid_argument', `--${name} is required (see xdeepserve ${command} --help)`, { param: name });
  return value;
}
