import type { Logger } from 'pino';
import { withDeadline } from '../storage/deadline';
import { isLostLease } from '../storage/errors';
import type { Clock } from '../clock';
import type { ConsumerQueue, QueueMessage } from './queue';

export interface LeaseOptions {
  queue: ConsumerQueue;
  visibilitySec: number;
  timeoutMs: number;
  clock: Clock;
  log: Logger;
  /** The consumer's hard stop: renewals (and their storage calls) end with it. */
  signal: AbortSignal;
}

/** A lease's log messages, one per event (see CONSUMER_LOG). */
export const LEASE_LOG = {
  lostWhileRenewing: 'lease lost while renewing: another consumer owns the message now',
  renewalFailed: 'lease renewal failed; retrying at next tick',
  lostOnDelete: 'delete found the lease lost: another consumer owns the message now',
  releaseFailed: 'release failed; the visibility timeout will return the message',
} as const;

/**
 * Our hold on one received message. While we work, it renews the visibility
 * timeout at half-time, always with the newest popReceipt. A failed renewal
 * is retried at the next tick (the lease may still be valid); a
 * 404/PopReceiptMismatch means another consumer owns the message now, so we
 * stop renewing and our final delete is skipped.
 */
export class MessageLease {
  popReceipt: string;
  lost = false;
  private readonly settled = new AbortController();
  private readonly renewals: Promise<void>;
  // A listener, not AbortSignal.any: one per message on the long-lived hard-stop signal, removed when we settle.
  private readonly onHardStop = () => this.settled.abort();

  constructor(
    readonly message: QueueMessage,
    private readonly o: LeaseOptions,
  ) {
    this.popReceipt = message.popReceipt;
    if (o.signal.aborted) this.settled.abort();
    else o.signal.addEventListener('abort', this.onHardStop, { once: true });
    this.renewals = this.renewLoop();
  }

  private async renewLoop(): Promise<void> {
    const halfTime = (this.o.visibilitySec * 1000) / 2;
    const stop = this.settled.signal;
    while (!stop.aborted && !this.lost) {
      await this.o.clock.sleep(halfTime, stop);
      if (stop.aborted) return;
      await this.renew();
    }
  }

  private async renew(): Promise<void> {
    try {
      this.popReceipt = await withDeadline(this.o.timeoutMs, this.o.signal, (abortSignal) =>
        this.o.queue.update(this.message.messageId, this.popReceipt, this.o.visibilitySec, abortSignal),
      );
    } catch (err) {
      if (isLostLease(err)) {
        this.lost = true;
        this.o.log.warn({ err }, LEASE_LOG.lostWhileRenewing);
      } else {
        this.o.log.warn({ err }, LEASE_LOG.renewalFailed);
      }
    }
  }

  /** Stops renewing and waits for a renewal in flight: we never race our own renewal for the popReceipt. */
  private async settle(): Promise<void> {
    this.abandon();
    await this.renewals;
  }

  /** Returns false when the lease was lost: someone else will finish the message. */
  async delete(): Promise<boolean> {
    await this.settle();
    if (this.lost) return false;
    try {
      await withDeadline(this.o.timeoutMs, undefined, (abortSignal) =>
        this.o.queue.delete(this.message.messageId, this.popReceipt, abortSignal),
      );
      return true;
    } catch (err) {
      if (!isLostLease(err)) throw err;
      this.lost = true;
      this.o.log.warn({ err }, LEASE_LOG.lostOnDelete);
      return false;
    }
  }

  /** Leaves the message for redelivery after `delaySec` (0 = at once). Best effort: if it fails, the timeout expires anyway. */
  async release(delaySec: number, signal?: AbortSignal): Promise<void> {
    await this.settle();
    if (this.lost) return;
    try {
      await withDeadline(this.o.timeoutMs, signal, (abortSignal) =>
        this.o.queue.update(this.message.messageId, this.popReceipt, delaySec, abortSignal),
      );
    } catch (err) {
      this.o.log.debug({ err }, LEASE_LOG.releaseFailed);
    }
  }

  /** Stops renewing without touching the message (shutdown deadline, crash-like exit). */
  abandon(): void {
    this.settled.abort();
    this.o.signal.removeEventListener('abort', this.onHardStop);
  }
}
