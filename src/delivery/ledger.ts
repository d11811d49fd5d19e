import { odata, type TableClient, type TransactionAction } from '@azure/data-tables';
import { LISTING_DEADLINE_FACTOR, withDeadline } from '../storage/deadline';
import { isConflict, isNotFound, isPreconditionFailed } from '../storage/errors';

/**
 * The delivery ledger (DELIVERIES_TABLE): PartitionKey = the day; one
 * `delivery` entity per (target, rows (after, through], redelivery n),
 * whose RowKey is fixed by (target, after, n), so that two instances that
 * plan the same file create one entity; and one `attempt` entity per try.
 * Whoever updates a delivery holds its lease (If-Match on the entity's ETag).
 */

export const DELIVERY_STATES = ['pending', 'delivering', 'delivered', 'failed'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

export interface DeliveryRecord {
  target: string;
  date: string;
  layout: string;
  after: number;
  through: number;
  redelivery: number;
  state: DeliveryState;
  /** Attempts started. */
  attempts: number;
  createdAt: string;
  /** When the day closed (the delivery lag runs from there). */
  closedAt?: string;
  nextAttemptAt?: string;
  leaseOwner?: string;
  leaseUntil?: string;
  path?: string;
  /** The file's ETag, as GET /exports/{date} names the same bytes (not the ledger entity's own ETag). */
  fileEtag?: string;
  bytes?: number;
  sha256?: string;
  /** The plaintext SHA-256 recorded just before the file is put under its final name: how a resumed attempt knows the file there is its own. */
  committingSha256?: string;
  deliveredAt?: string;
  lastError?: string;
  errorCode?: string;
  requestedBy?: string;
}

export interface StoredDelivery {
  record: DeliveryRecord;
  etag: string;
}

export interface AttemptRecord {
  target: string;
  date: string;
  after: number;
  through: number;
  redelivery: number;
  attempt: number;
  instance: string;
  startedAt: string;
  endedAt?: string;
  outcome: 'running' | 'delivered' | 'retry' | 'failed';
  path?: string;
  fileEtag?: string;
  bytes?: number;
  sha256?: string;
  error?: string;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');
export const deliveryKey = (target: string, after: number, redelivery: number): string =>
  `${target}~${pad(after, 12)}~r${pad(redelivery, 4)}`;
const attemptKey = (r: Pick<DeliveryRecord, 'target' | 'after' | 'redelivery'>, attempt: number) =>
  `${deliveryKey(r.target, r.after, r.redelivery)}~a${pad(attempt, 6)}`;

type Entity = DeliveryRecord & { partitionKey: string; rowKey: string; kind: 'delivery'; etag?: string };

function fromEntity(e: Entity & { etag: string }): StoredDelivery {
  const { partitionKey: _pk, rowKey: _rk, kind: _k, etag, ...rest } = e as Entity & { etag: string; timestamp?: string };
  delete (rest as { timestamp?: string }).timestamp;
  return { record: rest, etag };
}

export class DeliveryLedger {
  constructor(
    private readonly table: TableClient,
    private readonly timeoutMs: number,
  ) {}

  private call<T>(signal: AbortSignal | undefined, fn: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    return withDeadline(this.timeoutMs, signal, fn);
  }

  /**
   * Creates the delivery unless it exists; either way returns what is stored (the first writer's range
   * wins). With `attempt`, the delivery is created already claimed, its first attempt's record beside it
   * in the same transaction.
   */
  async plan(r: DeliveryRecord, signal?: AbortSignal, attempt?: AttemptRecord): Promise<{ stored: StoredDelivery; created: boolean }> {
    const entity: Entity = { ...r, partitionKey: r.date, rowKey: deliveryKey(r.target, r.after, r.redelivery), kind: 'delivery' };
    try {
      if (attempt) return { stored: { record: r, etag: await this.withAttempt(['create', row(entity)], attempt, signal) }, created: true };
      const res = await this.call(signal, (abortSignal) => this.table.createEntity(stripUndefined(entity), { abortSignal }));
      return { stored: { record: r, etag: res.etag! }, created: true };
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    const stored = await this.get(r.date, r.target, r.after, r.redelivery, signal);
    if (!stored) throw new Error(`delivery ${r.date} ${entity.rowKey} vanished`);
    return { stored, created: false };
  }

  async get(date: string, target: string, after: number, redelivery: number, signal?: AbortSignal): Promise<StoredDelivery | undefined> {
    try {
      const e = await this.call(signal, (abortSignal) =>
        this.table.getEntity<Entity>(date, deliveryKey(target, after, redelivery), { abortSignal }),
      );
      return fromEntity(e);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * Replaces a delivery if nobody moved it since `etag`; undefined when someone did (412). With `attempt`,
   * the attempt's record is written in the same entity-group transaction (both live in the day's
   * partition): the history and the state move together, in one round trip, or neither does.
   */
  async update(r: DeliveryRecord, etag: string, signal?: AbortSignal, attempt?: AttemptRecord): Promise<StoredDelivery | undefined> {
    const entity: Entity = { ...r, partitionKey: r.date, rowKey: deliveryKey(r.target, r.after, r.redelivery), kind: 'delivery' };
    try {
      if (attempt) return { record: r, etag: await this.withAttempt(['update', row(entity), 'Replace', { etag }], attempt, signal) };
      const res = await this.call(signal, (abortSignal) =>
        this.table.updateEntity(stripUndefined(entity), 'Replace', { etag, abortSignal }),
      );
      return { record: r, etag: res.etag! };
    } catch (err) {
      if (isPreconditionFailed(err)) return undefined;
      throw err;
    }
  }

  /** The deliveries of days from..to (all targets), optionally of one target or state. */
  async list(q: { from: string; to: string; target?: string; state?: DeliveryState }, signal?: AbortSignal): Promise<StoredDelivery[]> {
    let filter = odata`PartitionKey ge ${q.from} and PartitionKey le ${q.to} and kind eq 'delivery'`;
    if (q.target) filter += ` and ${odata`target eq ${q.target}`}`;
    if (q.state) filter += ` and ${odata`state eq ${q.state}`}`;
    const out: StoredDelivery[] = [];
    await withDeadline(this.timeoutMs * LISTING_DEADLINE_FACTOR, signal, async (abortSignal) => {
      for await (const e of this.table.listEntities<Entity>({ queryOptions: { filter }, abortSignal })) {
        out.push(fromEntity(e));
      }
    });
    return out;
  }

  /** A delivery's write and an attempt's record in one entity-group transaction (one partition: the day); the delivery's new ETag. */
  private async withAttempt(action: TransactionAction, attempt: AttemptRecord, signal?: AbortSignal): Promise<string> {
    const res = await this.call(signal, (abortSignal) =>
      this.table.submitTransaction([action, ['upsert', attemptEntity(attempt), 'Replace']], { abortSignal }),
    );
    return res.subResponses[0].etag!;
  }

  /** An attempt's record on its own: when the delivery's own update could not carry it (the lease was lost). */
  async recordAttempt(a: AttemptRecord, signal?: AbortSignal): Promise<void> {
    await this.call(signal, (abortSignal) => this.table.upsertEntity(attemptEntity(a), 'Replace', { abortSignal }));
  }

  /** The attempts of one delivery, oldest first. */
  async attempts(r: Pick<DeliveryRecord, 'date' | 'target' | 'after' | 'redelivery'>, signal?: AbortSignal): Promise<AttemptRecord[]> {
    const prefix = `${deliveryKey(r.target, r.after, r.redelivery)}~a`;
    const filter = odata`PartitionKey eq ${r.date} and RowKey gt ${prefix} and RowKey lt ${`${prefix}~`}`;
    const out: AttemptRecord[] = [];
    await this.call(signal, async (abortSignal) => {
      for await (const e of this.table.listEntities<AttemptRecord & { partitionKey: string; rowKey: string; kind: string }>({
        queryOptions: { filter },
        abortSignal,
      })) {
        const {
          partitionKey: _p,
          rowKey: _r,
          kind: _k,
          ...rest
        } = e as AttemptRecord & { partitionKey: string; rowKey: string; kind: string; etag?: string; timestamp?: string };
        delete (rest as { etag?: string }).etag;
        delete (rest as { timestamp?: string }).timestamp;
        out.push(rest);
      }
    });
    return out;
  }
}

const row = (e: Entity) => stripUndefined(e) as Entity & Record<string, unknown>;

const attemptEntity = (a: AttemptRecord) =>
  stripUndefined({ ...a, partitionKey: a.date, rowKey: attemptKey(a, a.attempt), kind: 'attempt' });

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
