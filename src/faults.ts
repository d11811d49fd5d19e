import type { CrashPoint } from './config';

export type CrashHook = (point: CrashPoint) => void;

/**
 * Fault injection for the crash tests: a real SIGKILL of our own process at a
 * named step, so nothing (no finally, no flush) runs after it, exactly like a
 * power cut. Off unless FAULT_CRASH_AT is set.
 */
export function crashHook(at: CrashPoint | undefined): CrashHook {
  if (!at) return () => undefined;
  return (point) => {
    if (point === at) process.kill(process.pid, 'SIGKILL');
  };
}
