import type { Clock } from '../../src/clock';

interface Sleeper {
  until: number;
  wake: () => void;
}

/** Lets the event loop run what is ready: promise callbacks and the I/O-free work they start. */
export async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/**
 * Time that moves only when a test says so. `sleep` resolves when `advance`
 * passes its end (or at once when its signal aborts); between wake-ups the
 * event loop settles, so the code under test reaches its next sleep.
 */
export class FakeClock implements Clock {
  private t = 1_000_000;
  private sleepers: Sleeper[] = [];

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted || ms <= 0) return resolve();
      const s: Sleeper = {
        until: this.t + Math.max(0, ms),
        wake: () => {
          this.sleepers = this.sleepers.filter((x) => x !== s);
          signal?.removeEventListener('abort', s.wake);
          resolve();
        },
      };
      this.sleepers.push(s);
      signal?.addEventListener('abort', s.wake, { once: true });
    });
  }

  /** Sleeps not yet over. */
  get sleeping(): number {
    return this.sleepers.length;
  }

  /** Moves time forward by `ms`, waking each sleeper at its own time, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    await settle();
    for (;;) {
      const next = this.sleepers.filter((s) => s.until <= target).sort((a, b) => a.until - b.until)[0];
      if (!next) break;
      this.t = Math.max(this.t, next.until);
      next.wake();
      await settle();
    }
    this.t = target;
    await settle();
  }
}
