/** Invariant checks: a broken invariant is a bug, so it throws loudly with context (STYLE.md §9). */

export class AssertionError extends Error {
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = 'AssertionError';
  }
}

export function assert(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new AssertionError(typeof message === 'function' ? message() : message);
}

/** For exhaustive `switch` over a `kind` discriminant. */
export function unreachable(x: never, what = 'value'): never {
  throw new AssertionError(`unexpected ${what}: ${JSON.stringify(x)}`);
}
