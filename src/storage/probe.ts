import type { AzureQueue } from './azure-queue';
import { withDeadline } from './deadline';

/**
 * Is storage reachable? One cheap call (queue properties), cached briefly so
 * that a tight readiness-probe interval does not become storage load.
 */
export class StorageProbe {
  private last: { at: number; ok: boolean; error?: string } | undefined;
  private inflight: Promise<boolean> | undefined;
  constructor(
    private readonly queue: Pick<AzureQueue, 'depth'>,
    private readonly cacheMs = 2000,
    private readonly timeoutMs = 2000,
  ) {}

  async check(): Promise<{ ok: boolean; error?: string }> {
    if (this.last && Date.now() - this.last.at < this.cacheMs) return this.last;
    this.inflight ??= withDeadline(this.timeoutMs, undefined, (abortSignal) => this.queue.depth(abortSignal))
      .then(() => (this.last = { at: Date.now(), ok: true }).ok)
      .catch((err: Error) => (this.last = { at: Date.now(), ok: false, error: err.message }).ok)
      .finally(() => (this.inflight = undefined));
    await this.inflight;
    return this.last!;
  }
}
