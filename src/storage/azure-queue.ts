import type { QueueClient } from '@azure/storage-queue';
import { withDeadline } from './deadline';
import { fromQueueText, installQueueTextPolicy, toQueueText } from './queue-text';

export interface SendOptions {
  /** Seconds; -1 never expires. */
  messageTimeToLive?: number;
  abortSignal?: AbortSignal;
}

/** A message as received under a lease (the shape the consumer's ConsumerQueue, src/consumer/queue.ts, asks for). */
export interface ReceivedMessage {
  messageId: string;
  popReceipt: string;
  dequeueCount: number;
  /** The body as the producer wrote it. */
  messageText: string;
}

/** Sending text to a queue: all that producers (approvals, replay, poison) need. */
export interface QueueSender {
  send(text: string, opts?: SendOptions): Promise<void>;
}

/**
 * One Azure Storage queue, through the SDK's QueueClient: the consumer's
 * narrow interface (structurally: storage does not import the consumer), plus send, peek and depth for the rest of the service.
 * Message text passes through here in both directions, so this is where
 * the service's view of a message body is decided: exactly the text a
 * producer sent, CR and LF included (see queue-text.ts for what the SDK
 * alone would lose, and how the text is kept).
 */
export class AzureQueue implements QueueSender {
  constructor(
    readonly client: QueueClient,
    private readonly timeoutMs: number,
  ) {
    installQueueTextPolicy(client); // a no-op when createStorageClients installed it already
  }

  get name(): string {
    return this.client.name;
  }

  async receive(max: number, visibilityTimeoutSec: number, signal: AbortSignal): Promise<ReceivedMessage[]> {
    const res = await this.client.receiveMessages({ numberOfMessages: max, visibilityTimeout: visibilityTimeoutSec, abortSignal: signal });
    return res.receivedMessageItems.map((m) => ({
      messageId: m.messageId,
      popReceipt: m.popReceipt,
      dequeueCount: m.dequeueCount,
      messageText: fromQueueText(m.messageText),
    }));
  }

  async update(messageId: string, popReceipt: string, visibilityTimeoutSec: number, signal: AbortSignal): Promise<string> {
    const res = await this.client.updateMessage(messageId, popReceipt, undefined, visibilityTimeoutSec, { abortSignal: signal });
    return res.popReceipt ?? popReceipt;
  }

  async delete(messageId: string, popReceipt: string, signal: AbortSignal): Promise<void> {
    await this.client.deleteMessage(messageId, popReceipt, { abortSignal: signal });
  }

  async send(text: string, opts: SendOptions = {}): Promise<void> {
    await this.client.sendMessage(toQueueText(text), opts);
  }

  /** A look without a lease (the service peeks 32 at most). */
  async peek(
    max: number,
    signal?: AbortSignal,
  ): Promise<Array<{ messageId: string; messageText: string; insertedOn: Date; dequeueCount: number }>> {
    const res = await withDeadline(this.timeoutMs, signal, (abortSignal) =>
      this.client.peekMessages({ numberOfMessages: Math.min(32, max), abortSignal }),
    );
    return res.peekedMessageItems.map((m) => ({
      messageId: m.messageId,
      messageText: fromQueueText(m.messageText),
      insertedOn: m.insertedOn,
      dequeueCount: m.dequeueCount,
    }));
  }

  /** The service's approximate message count. */
  async depth(signal?: AbortSignal): Promise<number> {
    const p = await withDeadline(this.timeoutMs, signal, (abortSignal) => this.client.getProperties({ abortSignal }));
    return p.approximateMessagesCount ?? 0;
  }
}
