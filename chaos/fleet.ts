import { setTimeout as sleep } from 'node:timers/promises';
import { spawnServer, type ServerProcess } from '../harness/child-server';

/** Neither exited nor killed by a signal (ours or anyone's). */
const isRunning = (p: ServerProcess | undefined): p is ServerProcess => !!p && p.child.exitCode === null && p.child.signalCode === null;

/**
 * N server instances on one storage. Any may be SIGKILLed at any time and is
 * restarted after a pause; callers pick a live one per request.
 */
export class Fleet {
  private readonly slots: Array<ServerProcess | undefined>;
  private readonly restarting = new Set<Promise<void>>();
  kills = 0;
  restarts = 0;

  constructor(
    size: number,
    private readonly env: Record<string, string>,
  ) {
    this.slots = new Array<ServerProcess | undefined>(size).fill(undefined);
  }

  async startAll(): Promise<void> {
    await Promise.all(this.slots.map((_, i) => this.startSlot(i)));
  }

  private async startSlot(i: number): Promise<void> {
    for (;;) {
      const p = await spawnServer({ env: this.env, startTimeoutMs: 90_000 });
      if (p.url) {
        this.slots[i] = p;
        return;
      }
      await sleep(500); // died before listening (e.g. storage was down too long): try again
    }
  }

  live(): ServerProcess[] {
    return this.slots.filter(isRunning);
  }

  pick(): ServerProcess | undefined {
    const live = this.live();
    return live[Math.floor(Math.random() * live.length)];
  }

  /** SIGKILL one live instance (not the last one standing) and restart it after `downMs`. */
  killOne(downMs: number): number | undefined {
    const live = this.slots.flatMap((p, i) => (isRunning(p) ? [i] : []));
    if (live.length < 2) return undefined;
    const i = live[Math.floor(Math.random() * live.length)];
    const victim = this.slots[i]!;
    this.slots[i] = undefined;
    victim.child.kill('SIGKILL');
    this.kills++;
    const r: Promise<void> = sleep(downMs)
      .then(() => this.startSlot(i))
      .then(() => void this.restarts++)
      .finally(() => this.restarting.delete(r));
    this.restarting.add(r);
    return victim.pid;
  }

  /** Waits for pending restarts, then for every slot to be up. */
  async settle(): Promise<void> {
    while (this.restarting.size > 0) await Promise.all([...this.restarting]);
    await Promise.all(this.slots.flatMap((p, i) => (isRunning(p) ? [] : [this.startSlot(i)])));
  }

  async stopAll(): Promise<Array<number | null>> {
    const live = this.live();
    const exits = await Promise.all(live.map((p) => p.terminate('SIGTERM')));
    return exits.map((e) => e.code);
  }
}
