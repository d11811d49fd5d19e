import type { CrashPoint } from './config';

/**
 * Fault injection for the crash tests (FAULT_CRASH_AT): a real SIGKILL of
 * our own process at a named step, so nothing (no finally, no flush) runs
 * after it, exactly like a power cut. Applied only where services.ts wires
 * things together, by wrapping one method of one collaborator; domain code
 * never knows. Off unless FAULT_CRASH_AT is set.
 */
export function crashHook(at: CrashPoint | undefined): (point: CrashPoint) => void {
  if (!at) return () => undefined;
  return (point) => {
    if (point === at) process.kill(process.pid, 'SIGKILL');
  };
}

type AsyncMethod<T> = {
  [K in keyof T]: T[K] extends (...args: never[]) => Promise<unknown> ? K : never;
}[keyof T];

/**
 * `target` with `method` wrapped so that the crash point fires before the
 * call, or after it has succeeded (and, with `onlyIf`, returned a result
 * that matters). Everything else is the target itself.
 */
export function crashAround<T extends object>(
  target: T,
  method: AsyncMethod<T>,
  when: 'before' | 'after',
  point: CrashPoint,
  at: CrashPoint | undefined,
  onlyIf: (result: unknown) => boolean = () => true,
): T {
  if (at !== point) return target;
  const crash = crashHook(at);
  const original = target[method] as (...args: unknown[]) => Promise<unknown>;
  const wrapped = async (...args: unknown[]) => {
    if (when === 'before') crash(point);
    const result = await original.apply(target, args);
    if (when === 'after' && onlyIf(result)) crash(point);
    return result;
  };
  return new Proxy(target, { get: (t, key, receiver) => (key === method ? wrapped : Reflect.get(t, key, receiver)) });
}
