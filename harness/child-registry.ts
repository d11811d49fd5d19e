import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';

/**
 * Children that must not outlive the run that started them. A test that
 * fails or times out never reaches its own cleanup, so every server and
 * every Azurite a test starts is recorded here (a file per pid, removed
 * when the child exits), and jest's globalTeardown kills whatever is left,
 * with its whole process group: a server's embedded Azurite goes with it.
 * Outside a test run (chaos, bench) the registry is off; they clean up
 * their own.
 */
export const CHILD_REGISTRY_ENV = 'EXPENSE_EXPORT_CHILD_REGISTRY';

/** Whether this process records its children (a test run). */
export const registryActive = (): boolean => !!process.env[CHILD_REGISTRY_ENV];

export function registerChild(child: ChildProcess): void {
  if (child.pid === undefined) return;
  const pid = child.pid;
  registerPid(pid);
  child.once('exit', () => unregisterPid(pid));
}

/** For a process we know only by pid (an Azurite started by startAzurite); unregister it when it is stopped. */
export function registerPid(pid: number): void {
  const dir = process.env[CHILD_REGISTRY_ENV];
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, String(pid)), String(pid));
}

export function unregisterPid(pid: number): void {
  const dir = process.env[CHILD_REGISTRY_ENV];
  if (dir) rmSync(join(dir, String(pid)), { force: true });
}

/** Kills every registered child that is still there, with its process group (SIGKILL: a run that is over has nothing to flush). */
export function killRegistered(dir: string): number[] {
  let pids: number[];
  try {
    pids = readdirSync(dir).map(Number).filter(Number.isInteger);
  } catch {
    return [];
  }
  const killed: number[] = [];
  for (const pid of pids) {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
        killed.push(pid);
        break;
      } catch {
        // no such group (not detached) or already gone
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
  return killed;
}
