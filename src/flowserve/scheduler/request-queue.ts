/**
 * An ordered list of requests under a policy's order (binary insertion; stable for equal keys).
 * Used for both the waiting queue and the running set of the scheduler (paper notes §2.5.1).
 */
import type { Request } from '../request.js';
import type { SchedulingPolicy } from './policies.js';

export class RequestQueue {
  private readonly items: Request[] = [];

  constructor(private readonly policy: SchedulingPolicy) {}

  get length(): number {
    return this.items.length;
  }

  /** Requests in policy order (do not mutate). */
  get ordered(): readonly Request[] {
    return this.items;
  }

  at(i: number): Request | undefined {
    return this.items[i];
  }

  peek(): Request | undefined {
    return this.items[0];
  }

  shift(): Request | undefined {
    return this.items.shift();
  }

  pop(): Request | undefined {
    return this.items.pop();
  }

  insert(req: Request): void {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.policy.compare(this.items[mid]!, req) <= 0) lo = mid + 1;
      else hi = mid;
    }
    this.items.splice(lo, 0, req);
  }

  /** Removes `req` if present; true when it was. */
  remove(req: Request): boolean {
    const i = this.items.indexOf(req);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }
}
