import type { Logger } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BackgroundTask } from './task';

export interface PeriodicTaskOptions {
  name: string;
  intervalMs: number;
  logger: Logger;
}

/**
 * Work that runs at start and then every `intervalMs`, as one async loop
 * with an abortable sleep (never setInterval: a slow run must not overlap
 * the next one). `runOnce` gets the stop signal and must handle its own
 * errors; an error that escapes is logged and the loop goes on.
 */
export abstract class PeriodicTask implements BackgroundTask {
  readonly name: string;
  private readonly controller = new AbortController();
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  /** Aborted to cut the current sleep short: by nudge(), and by stop(). */
  private wake = new AbortController();
  private nudged = false;

  constructor(private readonly opts: PeriodicTaskOptions) {
    this.name = opts.name;
  }

  protected abstract runOnce(signal: AbortSignal): Promise<void>;

  start(): void {
    this.loop ??= this.run();
  }

  /** Cuts the current sleep short, so the next run starts now (e.g. when new work was just recorded). */
  nudge(): void {
    this.nudged = true;
    this.wake.abort();
  }

  stop(budgetMs: number): Promise<void> {
    this.stopping ??= (async () => {
      this.controller.abort();
      this.wake.abort();
      // A run in progress gets the signal and should end at its next storage call; we wait at most the budget.
      await Promise.race([this.loop, sleep(budgetMs, undefined, { ref: false })]);
    })();
    return this.stopping;
  }

  private async run(): Promise<void> {
    const signal = this.controller.signal;
    while (!signal.aborted) {
      try {
        await this.runOnce(signal);
      } catch (err) {
        if (!signal.aborted) this.opts.logger.error({ err, task: this.name }, 'background task run failed');
      }
      if (signal.aborted) break;
      if (this.nudged) {
        this.nudged = false; // nudged while running: run again at once
        continue;
      }
      this.wake = new AbortController();
      await sleep(this.opts.intervalMs, undefined, { signal: this.wake.signal, ref: false }).catch(() => undefined);
      this.nudged = false;
    }
  }
}
