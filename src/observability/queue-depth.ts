import type { StorageClients } from '../storage/clients';
import { withDeadline } from '../storage/deadline';
import type { Metrics } from './metrics';

/** The service's approximate message count of one queue (a storage call). */
export function queueDepth(queue: StorageClients['queue'], timeoutMs: number): Promise<number> {
  return withDeadline(timeoutMs, undefined, (abortSignal) => queue.getProperties({ abortSignal })).then(
    (p) => p.approximateMessagesCount ?? 0,
  );
}

/** Queue depths are a storage call each, so they are refreshed on a timer, not per scrape. */
export class QueueDepthMonitor {
  depths: { main?: number; poison?: number; at?: string } = {};
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly c: StorageClients,
    private readonly metrics: Metrics,
    private readonly intervalMs = 15000,
  ) {}

  async refresh(): Promise<void> {
    const [main, poison] = await Promise.all([queueDepth(this.c.queue, this.c.timeoutMs), queueDepth(this.c.poison, this.c.timeoutMs)]);
    this.depths = { main, poison, at: new Date().toISOString() };
    this.metrics.queueDepth.set({ queue: this.c.queue.name }, main);
    this.metrics.queueDepth.set({ queue: this.c.poison.name }, poison);
  }

  start(): void {
    const tick = () => void this.refresh().catch(() => undefined);
    tick();
    this.timer = setInterval(tick, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
