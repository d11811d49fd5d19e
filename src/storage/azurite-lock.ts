import { closeSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { join, resolve } from 'node:path';
import { startAzurite, type AzuriteOptions, type EmbeddedAzurite } from './embedded-azurite';

/**
 * Azurite keeps its data in LokiJS files that it loads at start and rewrites
 * as it goes; two Azurite processes on one folder overwrite each other's
 * writes. So one process at a time owns a data folder, and says so in a lock
 * file there: its pid, what it runs, and (once listening) Azurite's ports, so
 * that a CLI command can use the running server's Azurite instead of starting
 * a second one.
 */

export interface AzuriteHolder {
  pid: number;
  command: string;
  startedAt: string;
  tablePort?: number;
  queuePort?: number;
  blobPort?: number;
}

export const LOCK_FILE = 'expense-export.lock';
/** A lock without ports older than this belongs to a start that died half-way. */
const STARTING_GRACE_MS = 60_000;

export class AzuriteFolderBusyError extends Error {
  override name = 'AzuriteFolderBusyError';
  constructor(
    readonly location: string,
    readonly holder: AzuriteHolder,
  ) {
    super(
      `the embedded storage folder ${location} is in use by process ${holder.pid} (expense-export ${holder.command}); ` +
        'wait for it to finish, stop it, or set AZURITE_LOCATION to another folder',
    );
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, but not ours to signal
  }
}

export function readHolder(location: string): AzuriteHolder | undefined {
  try {
    const v = JSON.parse(readFileSync(join(resolve(location), LOCK_FILE), 'utf8')) as Partial<AzuriteHolder>;
    return typeof v.pid === 'number' && typeof v.command === 'string' && typeof v.startedAt === 'string' ? (v as AzuriteHolder) : undefined;
  } catch {
    return undefined;
  }
}

function lockAge(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** Is this holder still there? Dead pids, and starts that never got their ports, are stale. */
export function isLive(holder: AzuriteHolder | undefined, path: string): holder is AzuriteHolder {
  if (!holder || !isAlive(holder.pid)) return false;
  return holder.tablePort !== undefined || lockAge(path) < STARTING_GRACE_MS;
}

/**
 * A live pid is not proof: after a restart (a container's pid 1, a reboot)
 * the recorded pid may be ours or someone unrelated. A holder that published
 * ports must also still answer on them.
 */
async function stillServing(holder: AzuriteHolder): Promise<boolean> {
  if (holder.pid === process.pid) return false;
  return holder.tablePort === undefined || (await portAnswers(holder.tablePort));
}

export interface FolderLock {
  /** Records Azurite's ports for other processes (atomic replace). */
  publish(ports: { tablePort: number; queuePort: number; blobPort: number }): void;
  release(): void;
}

/** Takes the folder for this process, or throws AzuriteFolderBusyError naming the live holder. */
export async function lockFolder(location: string, command: string): Promise<FolderLock> {
  const dir = resolve(location);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const mine: AzuriteHolder = { pid: process.pid, command, startedAt: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx'); // atomic: exactly one process creates it
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 20) throw err;
      const holder = readHolder(location);
      if (isLive(holder, path) && (await stillServing(holder))) throw new AzuriteFolderBusyError(location, holder);
      // Unreadable may mean "being written right now": look again shortly before calling it stale.
      if (!holder && lockAge(path) < 2000) {
        await sleep(100);
        continue;
      }
      unlinkSync(path);
      continue;
    }
    writeSync(fd, JSON.stringify(mine));
    closeSync(fd);
    break;
  }
  return {
    publish(ports) {
      const tmp = `${path}.${process.pid}.tmp`;
      const fd = openSync(tmp, 'w');
      writeSync(fd, JSON.stringify({ ...mine, ...ports }));
      closeSync(fd);
      renameSync(tmp, path);
    },
    release() {
      if (readHolder(location)?.pid !== process.pid) return; // taken over after we were presumed dead: not ours
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    },
  };
}

/** The server's way in: start Azurite on a folder nobody else uses, holding the folder until stop(). */
export async function startExclusiveAzurite(opts: AzuriteOptions & { command: string }): Promise<EmbeddedAzurite> {
  if (opts.inMemory) return startAzurite(opts);
  const location = opts.location ?? '.azurite';
  const lock = await lockFolder(location, opts.command);
  let azurite: EmbeddedAzurite;
  try {
    azurite = await startAzurite({ ...opts, location });
  } catch (err) {
    lock.release();
    throw err;
  }
  lock.publish({ tablePort: azurite.tablePort, queuePort: azurite.queuePort, blobPort: azurite.blobPort });
  return {
    ...azurite,
    async stop() {
      await azurite.stop();
      lock.release();
    },
  };
}

export function portAnswers(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    // The timer can expire while this process's event loop is blocked (serve loads its modules while this runs) and
    // fire before an already-completed connect is seen: let the poll phase deliver it first.
    socket.setTimeout(timeoutMs, () => setImmediate(() => finish(false)));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}
