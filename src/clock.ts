import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Time, the one shape of it the service uses: now (epoch ms), and an
 * abortable sleep. Injected, so that unit tests can drive backoffs, pauses,
 * lease renewals and "what day is it" without waiting for them.
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

/** A clock stopped at `at` (sleeping still takes real time): demo data "approved yesterday", a day closed "tomorrow". */
export const clockAt = (at: Date | number): Clock => ({ now: () => +at, sleep: (ms, signal) => systemClock.sleep(ms, signal) });
