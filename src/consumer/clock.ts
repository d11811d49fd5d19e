import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Time as the consumer sees it: now, and an abortable sleep. Injected, so
 * that unit tests can drive the loop's backoffs, pauses and lease renewals
 * without waiting for them.
 */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or at once (without throwing) when `signal` aborts. Never keeps the process alive. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleep(ms, undefined, { signal, ref: false }).catch(() => undefined),
};
