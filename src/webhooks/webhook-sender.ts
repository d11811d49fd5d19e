import type { Logger } from 'pino';
import { Webhook } from 'standardwebhooks';
import { PeriodicTask } from '../background/periodic-task';
import { mapLimit } from '../map-limit';
import { retryDelayMs } from '../delivery/naming';
import type { OutboxMessage, WebhookOutbox } from './outbox';

export interface WebhookSenderDeps {
  outbox: WebhookOutbox;
  intervalMs: number;
  timeoutMs: number;
  maxAttempts: number;
  /** The first retry's delay; each later one doubles, up to an hour. */
  retryBaseMs?: number;
  logger: Logger;
  counted?: (endpoint: string, outcome: 'sent' | 'retry' | 'failed') => void;
  now?: () => Date;
}

/**
 * Sends the outbox's due messages, signed the Standard Webhooks way
 * (webhook-id, webhook-timestamp, webhook-signature), at least once: a
 * message stays pending until its receiver answers 2xx. A slow or dead
 * receiver costs this loop a timeout, never the export, the close or the
 * consumer, which only ever write to the outbox.
 */
export class WebhookSender extends PeriodicTask {
  private readonly now: () => Date;
  private readonly signers = new Map<string, { url: string; signer: Webhook }>();

  constructor(private readonly d: WebhookSenderDeps) {
    super({ name: 'webhooks', intervalMs: d.intervalMs, logger: d.logger });
    this.now = d.now ?? (() => new Date());
    for (const e of d.outbox.endpoints) this.signers.set(e.name, { url: e.url, signer: new Webhook(e.secret) });
  }

  protected override async runOnce(signal: AbortSignal): Promise<void> {
    if (this.signers.size === 0) return;
    try {
      await this.sendDue(signal);
    } catch (err) {
      if (!signal.aborted) this.d.logger.warn({ err }, 'webhook run failed; will retry');
    }
  }

  async sendDue(signal?: AbortSignal): Promise<Array<{ id: string; endpoint: string; outcome: string }>> {
    const due = await this.d.outbox.due(signal);
    const results = await mapLimit(due, 4, (m) => this.send(m.message, m.etag, signal));
    return results.filter((r): r is { id: string; endpoint: string; outcome: string } => r !== undefined);
  }

  private async send(m: OutboxMessage, etag: string, signal?: AbortSignal) {
    const endpoint = this.signers.get(m.endpoint);
    if (!endpoint) return undefined; // an endpoint no longer configured: left as it is
    const attempts = m.attempts + 1;
    // Claimed: other instances skip it until the send has had its time.
    const claimedUntil = new Date(this.now().getTime() + this.d.timeoutMs + 5000).toISOString();
    const claimed = await this.d.outbox.update({ ...m, attempts, nextAttemptAt: claimedUntil }, etag, signal);
    if (!claimed) return undefined;
    let error: string | undefined;
    try {
      const at = this.now();
      const res = await fetch(endpoint.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': m.id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': endpoint.signer.sign(m.id, at, m.payload),
        },
        body: m.payload,
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(this.d.timeoutMs), ...(signal ? [signal] : [])]),
      });
      await res.body?.cancel().catch(() => undefined);
      if (res.status < 200 || res.status > 299) error = `HTTP ${res.status}`;
    } catch (err) {
      error = (err as Error).name === 'TimeoutError' ? `no answer within ${this.d.timeoutMs} ms` : (err as Error).message;
    }
    const outcome = !error ? 'sent' : attempts >= this.d.maxAttempts ? 'failed' : 'retry';
    const next: OutboxMessage = {
      ...m,
      attempts,
      state: outcome === 'retry' ? 'pending' : outcome,
      sentAt: outcome === 'sent' ? this.now().toISOString() : undefined,
      nextAttemptAt:
        outcome === 'retry'
          ? new Date(this.now().getTime() + retryDelayMs(attempts, this.d.retryBaseMs ?? 2000)).toISOString()
          : m.nextAttemptAt,
      lastError: error?.slice(0, 500),
    };
    await this.d.outbox.update(next, claimed, signal).catch((err: unknown) => this.d.logger.warn({ err }, 'webhook outcome not recorded'));
    this.d.counted?.(m.endpoint, outcome);
    if (outcome === 'failed') this.d.logger.error({ endpoint: m.endpoint, id: m.id, type: m.type, error }, 'webhook failed; giving up');
    else if (outcome === 'retry')
      this.d.logger.warn({ endpoint: m.endpoint, id: m.id, type: m.type, error }, 'webhook not accepted; will retry');
    return { id: m.id, endpoint: m.endpoint, outcome };
  }
}
