import type { Logger } from 'pino';
import { PeriodicTask } from '../background/periodic-task';
import type { AzureQueue } from '../storage/azure-queue';
import type { Metrics } from './metrics';

/** Queue depths are a storage call each, so they are refreshed on a timer (every 15 s), not per scrape. */
export class QueueDepthMonitor extends PeriodicTask {
  depths: { main?: number; poison?: number; at?: string } = {};

  constructor(
    private readonly queues: { main: AzureQueue; poison: AzureQueue },
    private readonly metrics: Metrics,
    logger: Logger,
    intervalMs = 15_000,
  ) {
    super({ name: 'queue-depth', intervalMs, logger });
  }

  async refresh(signal?: AbortSignal): Promise<void> {
    const [main, poison] = await Promise.all([this.queues.main.depth(signal), this.queues.poison.depth(signal)]);
    this.depths = { main, poison, at: new Date().toISOString() };
    this.metrics.queueDepth.set({ queue: this.queues.main.name }, main);
    this.metrics.queueDepth.set({ queue: this.queues.poison.name }, poison);
  }

  protected override async runOnce(signal: AbortSignal): Promise<void> {
    // Unreachable storage shows as stale depths (and in /readyz), not as a log line every 15 s.
    await this.refresh(signal).catch(() => undefined);
  }
}
