/**
 * Scheduling policies (STYLE.md §3: mechanism apart from policy): a policy only orders requests.
 * The scheduler serves the waiting queue in this order, keeps the running set in this order, and
 * preempts from its end (the request the policy would serve last: the newest under FCFS).
 * Policies plug in by name through a registry; presets and configs choose them.
 */
import { XdsError } from '../../core/errors.js';
import type { Request } from '../request.js';

export interface SchedulingPolicy {
  readonly name: string;
  /** < 0 when `a` is served before `b`. A total order: ties end on arrivalSeq. */
  compare(a: Request, b: Request): number;
}

/** First come, first served: arrival time, then arrival sequence. */
export const fcfsPolicy: SchedulingPolicy = {
  name: 'fcfs',
  compare: (a, b) => a.arrivalUs - b.arrivalUs || a.arrivalSeq - b.arrivalSeq,
};

/** Lower `priority` value first (vLLM convention), FCFS within a priority. */
export const priorityPolicy: SchedulingPolicy = {
  name: 'priority',
  compare: (a, b) => a.priority - b.priority || fcfsPolicy.compare(a, b),
};

const registry = new Map<string, SchedulingPolicy>([
  [fcfsPolicy.name, fcfsPolicy],
  [priorityPolicy.name, priorityPolicy],
]);

/** Adds a policy under its name (replacing one of the same name). */
export function registerPolicy(policy: SchedulingPolicy): void {
  registry.set(policy.name, policy);
}

export function policyNames(): string[] {
  return [...registry.keys()];
}

/** The policy registered under `name`, or XdsError('invalid_config') naming the field. */
export function getPolicy(name: string): SchedulingPolicy {
  const p = registry.get(name);
  if (p === undefined) {
    throw new XdsError('invalid_config', `unknown scheduling policy '${name}' (known: ${policyNames().join(', ')})`, { param: 'policy' });
  }
  return p;
}
