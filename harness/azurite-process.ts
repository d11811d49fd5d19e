import { statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startAzurite, type AzuriteOptions, type EmbeddedAzurite } from '../src/storage/embedded-azurite';
import { registerPid, unregisterPid } from './child-registry';

/** Azurite's LokiJS files: each is rewritten whole by an autosave every 5 s, and only then is a write on disk. */
const AUTOSAVE_MS = 5000;
const DB_FILES = ['__azurite_db_table__.json', '__azurite_db_queue__.json', '__azurite_db_queue_extent__.json'];

/**
 * An Azurite we can hurt: SIGKILL and restart on the same ports with the same
 * data folder, or SIGSTOP/SIGCONT. No watchdog, so the pid is Azurite's own
 * (registered, so that a test run that fails half-way still ends it).
 * Without a location it keeps its data in memory, and a restart loses it.
 */
export class AzuriteProcess {
  private constructor(
    private current: EmbeddedAzurite,
    readonly location: string | undefined,
  ) {}

  static async start(location?: string): Promise<AzuriteProcess> {
    return new AzuriteProcess(await launch({ location }), location);
  }

  get connectionString(): string {
    return this.current.connectionString;
  }

  get pid(): number {
    return this.current.pid;
  }

  get alive(): boolean {
    try {
      process.kill(this.current.pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** SIGKILL, like a power cut: whatever the last autosave did not write is gone. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    process.kill(this.current.pid, 'SIGKILL');
    while (this.alive) await sleep(20);
    unregisterPid(this.current.pid);
  }

  pause(): void {
    process.kill(this.current.pid, 'SIGSTOP');
  }

  resume(): void {
    process.kill(this.current.pid, 'SIGCONT');
  }

  /** Starts again on the same ports and data folder, so clients' connection strings stay valid. */
  async restart(): Promise<void> {
    await this.kill();
    this.current = await launch({
      location: this.location,
      tablePort: this.current.tablePort,
      queuePort: this.current.queuePort,
      blobPort: this.current.blobPort,
    });
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    this.resume();
    await this.current.stop();
    unregisterPid(this.current.pid);
  }

  /**
   * Waits until all writes acknowledged before `since` (ms epoch) would
   * survive a SIGKILL: every Loki file saved after `since`, or one full
   * autosave cycle passed (a file that was not dirty is not saved again).
   */
  async persisted(since: number): Promise<void> {
    const location = this.location;
    if (!location) return; // in memory: nothing survives a kill anyway
    const end = since + AUTOSAVE_MS + 1000;
    const saved = (f: string) => {
      try {
        return statSync(join(location, f)).mtimeMs > since;
      } catch {
        return false;
      }
    };
    while (!DB_FILES.every(saved) && Date.now() < end) await sleep(100);
  }
}

async function launch(o: Pick<AzuriteOptions, 'location' | 'tablePort' | 'queuePort' | 'blobPort'>): Promise<EmbeddedAzurite> {
  const azurite = await startAzurite({ ...o, inMemory: o.location === undefined, watchdog: false });
  registerPid(azurite.pid);
  return azurite;
}
