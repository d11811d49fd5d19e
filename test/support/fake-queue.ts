import { randomUUID } from 'node:crypto';
import type { ConsumerQueue, PoisonSink, QueueMessage } from '../../src/consumer/queue';
import type { FakeClock } from './fake-clock';

interface Stored {
  messageId: string;
  messageText: string;
  dequeueCount: number;
  popReceipt: string;
  visibleAt: number;
}

/** What the queue service says when a popReceipt no longer holds the message (another consumer has it). */
export const lostLease = () =>
  Object.assign(new Error('The specified pop receipt did not match'), { statusCode: 400, code: 'PopReceiptMismatch' });
/** What an unreachable storage looks like to the SDK. */
export const unreachable = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:10001'), { code: 'ECONNREFUSED' });

/**
 * A queue with the service's lease rules, in memory, on a fake clock: a
 * receive hides a message for the visibility timeout and gives it a new
 * popReceipt; update and delete need the newest popReceipt. For unit tests
 * of the consumer loop only: everything that touches real storage is tested
 * against Azurite.
 */
export class FakeQueue implements ConsumerQueue {
  readonly messages = new Map<string, Stored>();
  readonly calls: Array<{ op: 'receive' | 'update' | 'delete'; messageId?: string; visibilitySec?: number }> = [];
  /** Set to make the next calls of an operation fail with what it returns. */
  failing: Partial<Record<'receive' | 'update' | 'delete', () => Error>> = {};

  constructor(private readonly clock: FakeClock) {}

  add(messageText: string, dequeueCount = 0): string {
    const messageId = randomUUID();
    this.messages.set(messageId, { messageId, messageText, dequeueCount, popReceipt: randomUUID(), visibleAt: this.clock.now() });
    return messageId;
  }

  /** Another consumer receives the message: our popReceipt stops working. */
  steal(messageId: string): void {
    const m = this.messages.get(messageId)!;
    m.popReceipt = randomUUID();
    m.dequeueCount++;
  }

  async receive(max: number, visibilityTimeoutSec: number): Promise<QueueMessage[]> {
    this.calls.push({ op: 'receive' });
    const fail = this.failing.receive?.();
    if (fail) throw fail;
    const now = this.clock.now();
    const out: QueueMessage[] = [];
    for (const m of this.messages.values()) {
      if (out.length >= max || m.visibleAt > now) continue;
      m.dequeueCount++;
      m.popReceipt = randomUUID();
      m.visibleAt = now + visibilityTimeoutSec * 1000;
      out.push({ messageId: m.messageId, popReceipt: m.popReceipt, dequeueCount: m.dequeueCount, messageText: m.messageText });
    }
    return out;
  }

  async update(messageId: string, popReceipt: string, visibilityTimeoutSec: number): Promise<string> {
    this.calls.push({ op: 'update', messageId, visibilitySec: visibilityTimeoutSec });
    const fail = this.failing.update?.();
    if (fail) throw fail;
    const m = this.held(messageId, popReceipt);
    m.popReceipt = randomUUID();
    m.visibleAt = this.clock.now() + visibilityTimeoutSec * 1000;
    return m.popReceipt;
  }

  async delete(messageId: string, popReceipt: string): Promise<void> {
    this.calls.push({ op: 'delete', messageId });
    const fail = this.failing.delete?.();
    if (fail) throw fail;
    this.held(messageId, popReceipt);
    this.messages.delete(messageId);
  }

  private held(messageId: string, popReceipt: string): Stored {
    const m = this.messages.get(messageId);
    if (!m) throw Object.assign(new Error('The specified message does not exist.'), { statusCode: 404, code: 'MessageNotFound' });
    if (m.popReceipt !== popReceipt) throw lostLease();
    return m;
  }
}

export class FakePoison implements PoisonSink {
  readonly entries: Array<Parameters<PoisonSink['add']>[0]> = [];
  failing: (() => Error) | undefined;

  async add(entry: Parameters<PoisonSink['add']>[0]): Promise<void> {
    const fail = this.failing?.();
    if (fail) throw fail;
    this.entries.push(entry);
  }
}
