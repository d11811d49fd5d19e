import { odata, type TableClient } from '@azure/data-tables';
import { LISTING_DEADLINE_FACTOR, withDeadline } from '../storage/deadline';
import { isConflict, isPreconditionFailed } from '../storage/errors';
import type { WebhookEndpoint, WebhookEventType } from '../delivery/targets';

/**
 * The webhook outbox (WEBHOOK_OUTBOX_TABLE): PartitionKey = endpoint name,
 * RowKey = the message id. An event is recorded once per endpoint (insert
 * only: emitting it again is a no-op) and then sent until its receiver
 * answers 2xx, or it fails for good after WEBHOOK_MAX_ATTEMPTS. The id is
 * the `webhook-id` header: receivers drop duplicates by it.
 */
export interface OutboxMessage {
  endpoint: string;
  id: string;
  type: WebhookEventType;
  /** The JSON body, fixed when emitted: every send of a message carries the same bytes. */
  payload: string;
  state: 'pending' | 'sent' | 'failed';
  attempts: number;
  createdAt: string;
  nextAttemptAt: string;
  sentAt?: string;
  lastError?: string;
}

type Entity = Omit<OutboxMessage, 'endpoint' | 'id'> & { partitionKey: string; rowKey: string };

/** A message id: characters a table key and an HTTP header both take. */
export const messageId = (...parts: Array<string | number>): string => `msg_${parts.join('_')}`.replace(/[^A-Za-z0-9._~-]/g, '-');

export class WebhookOutbox {
  constructor(
    private readonly table: TableClient,
    private readonly timeoutMs: number,
    readonly endpoints: readonly WebhookEndpoint[],
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Records the event for every endpoint that wants it; an id already recorded stays as it was. */
  async emit(type: WebhookEventType, id: string, data: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    const at = this.now().toISOString();
    const payload = JSON.stringify({ type, timestamp: at, data });
    for (const e of this.endpoints) {
      if (e.events && !e.events.includes(type)) continue;
      const entity: Entity = {
        partitionKey: e.name,
        rowKey: id,
        type,
        payload,
        state: 'pending',
        attempts: 0,
        createdAt: at,
        nextAttemptAt: at,
      };
      try {
        await withDeadline(this.timeoutMs, signal, (abortSignal) => this.table.createEntity(entity, { abortSignal }));
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
  }

  /** Pending messages whose time has come. */
  async due(signal?: AbortSignal): Promise<Array<{ message: OutboxMessage; etag: string }>> {
    const now = this.now().toISOString();
    const filter = odata`state eq 'pending' and nextAttemptAt le ${now}`;
    const out: Array<{ message: OutboxMessage; etag: string }> = [];
    await withDeadline(this.timeoutMs * LISTING_DEADLINE_FACTOR, signal, async (abortSignal) => {
      for await (const e of this.table.listEntities<Entity>({ queryOptions: { filter }, abortSignal })) {
        out.push({ message: fromEntity(e), etag: e.etag });
      }
    });
    return out;
  }

  async list(endpoint: string, signal?: AbortSignal): Promise<OutboxMessage[]> {
    const out: OutboxMessage[] = [];
    await withDeadline(this.timeoutMs * LISTING_DEADLINE_FACTOR, signal, async (abortSignal) => {
      for await (const e of this.table.listEntities<Entity>({ queryOptions: { filter: odata`PartitionKey eq ${endpoint}` }, abortSignal }))
        out.push(fromEntity(e));
    });
    return out;
  }

  /** Replaces a message if nobody moved it since `etag`; undefined when someone did. */
  async update(m: OutboxMessage, etag: string, signal?: AbortSignal): Promise<string | undefined> {
    const { endpoint, id, ...rest } = m;
    const entity = Object.fromEntries(
      Object.entries({ ...rest, partitionKey: endpoint, rowKey: id }).filter(([, v]) => v !== undefined),
    ) as Entity;
    try {
      const res = await withDeadline(this.timeoutMs, signal, (abortSignal) =>
        this.table.updateEntity(entity, 'Replace', { etag, abortSignal }),
      );
      return res.etag;
    } catch (err) {
      if (isPreconditionFailed(err)) return undefined;
      throw err;
    }
  }
}

function fromEntity(e: Entity): OutboxMessage {
  return {
    endpoint: e.partitionKey,
    id: e.rowKey,
    type: e.type,
    payload: e.payload,
    state: e.state,
    attempts: e.attempts,
    createdAt: e.createdAt,
    nextAttemptAt: e.nextAttemptAt,
    sentAt: e.sentAt,
    lastError: e.lastError,
  };
}
