import type { QueueClient, DequeuedMessageItem } from '@azure/storage-queue';
import type { Logger } from 'pino';
import { withDeadline } from '../storage/deadline';
import { isLostLease } from '../storage/errors';

/**
 * Our hold on one received message. While we work, it renews the visibility
 * timeout at half-time with updateMessage, always with the newest popReceipt.
 * A failed renewal is retried at the next tick (the lease may still be
 * valid); a 404/PopReceiptMismatch means another consumer owns the message
 * now, so we stop renewing and our final delete will be skipped.
 */
export class MessageLease {
  popReceipt: string;
  lost = false;
  private timer: NodeJS.Timeout | undefined;
  private settled = false;
  private renewing: Promise<void> | undefined;

  constructor(
    readonly message: DequeuedMessageItem,
    private readonly queue: QueueClient,
    private readonly visibilitySec: number,
    private readonly timeoutMs: number,
    private readonly log: Logger,
    private readonly signal?: AbortSignal,
  ) {
    this.popReceipt = message.popReceipt;
    this.schedule();
  }

  private schedule(): void {
    if (this.settled || this.lost) return;
    this.timer = setTimeout(
      () => {
        this.renewing = this.renew().finally(() => {
          this.renewing = undefined;
          this.schedule();
        });
      },
      (this.visibilitySec * 1000) / 2,
    );
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    try {
      const res = await withDeadline(this.timeoutMs, this.signal, (abortSignal) =>
        this.queue.updateMessage(this.message.messageId, this.popReceipt, undefined, this.visibilitySec, { abortSignal }),
      );
      if (res.popReceipt) this.popReceipt = res.popReceipt;
    } catch (err) {
      if (isLostLease(err)) {
        this.lost = true;
        this.log.warn({ err }, 'lease lost while renewing: another consumer owns the message now');
      } else {
        this.log.warn({ err }, 'lease renewal failed; retrying at next tick');
      }
    }
  }

  private async settle(): Promise<void> {
    this.settled = true;
    clearTimeout(this.timer);
    await this.renewing; // never race our own renewal for the popReceipt
  }

  /** Returns false when the lease was lost: someone else will finish the message. */
  async delete(): Promise<boolean> {
    await this.settle();
    if (this.lost) return false;
    try {
      await withDeadline(this.timeoutMs, undefined, (abortSignal) =>
        this.queue.deleteMessage(this.message.messageId, this.popReceipt, { abortSignal }),
      );
      return true;
    } catch (err) {
      if (!isLostLease(err)) throw err;
      this.lost = true;
      this.log.warn({ err }, 'delete found the lease lost: another consumer owns the message now');
      return false;
    }
  }

  /** Leaves the message for redelivery after `delaySec` (0 = at once). Best effort: if it fails, the timeout expires anyway. */
  async release(delaySec: number, signal?: AbortSignal): Promise<void> {
    await this.settle();
    if (this.lost) return;
    try {
      await withDeadline(this.timeoutMs, signal, (abortSignal) =>
        this.queue.updateMessage(this.message.messageId, this.popReceipt, undefined, delaySec, { abortSignal }),
      );
    } catch (err) {
      this.log.debug({ err }, 'release failed; the visibility timeout will return the message');
    }
  }

  /** Stop renewing without touching the message (shutdown deadline, crash-like exit). */
  abandon(): void {
    this.settled = true;
    clearTimeout(this.timer);
  }
}
