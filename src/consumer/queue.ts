/**
 * What the consumer needs of a queue, and no more: receive, update (renew
 * or release a lease), delete. The Azure adapter is src/storage/azure-queue.ts;
 * unit tests drive the consumer through a fake.
 */
export interface QueueMessage {
  messageId: string;
  popReceipt: string;
  dequeueCount: number;
  /** The body as the producer wrote it. */
  messageText: string;
}

export interface ConsumerQueue {
  receive(max: number, visibilityTimeoutSec: number, signal: AbortSignal): Promise<QueueMessage[]>;
  /** Makes the message visible again after `visibilityTimeoutSec`; returns the popReceipt that now holds it. */
  update(messageId: string, popReceipt: string, visibilityTimeoutSec: number, signal: AbortSignal): Promise<string>;
  delete(messageId: string, popReceipt: string, signal: AbortSignal): Promise<void>;
}

/** Where a message the consumer gives up on goes, with its reason; the body is kept exactly. */
export interface PoisonSink {
  add(
    entry: { body: string; reason: string; code: string; dequeueCount: number; originalMessageId: string },
    signal?: AbortSignal,
  ): Promise<void>;
}
