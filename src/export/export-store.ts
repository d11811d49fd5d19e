import type { TableClient, TableEntity, TableEntityQueryOptions, TransactionAction, UpdateMode } from '@azure/data-tables';
import { withDeadline } from '../storage/deadline';
import { isNotFound } from '../storage/errors';
import { readPages, type Page } from './export-pages';

type Entity = TableEntity<Record<string, unknown>>;

/**
 * The export table's storage layer, private to its owner (export-table.ts):
 * the only holder of the ExpenseExport `TableClient`. Every call gets the
 * one storage deadline; the parts of the owner (the day writer, the
 * manifest store, the snapshot reader, the legacy numbering) speak to the
 * table only through this.
 */
export class ExportStore {
  constructor(
    private readonly table: TableClient,
    readonly timeoutMs: number,
  ) {}

  /** One entity, or undefined when there is none. */
  async get<T extends object>(
    pk: string,
    rk: string,
    select?: string[],
    signal?: AbortSignal,
  ): Promise<(T & { etag: string }) | undefined> {
    try {
      return await withDeadline(this.timeoutMs, signal, (abortSignal) =>
        this.table.getEntity<T>(pk, rk, { ...(select ? { queryOptions: { select } } : {}), abortSignal }),
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** A query's results page by page, with one page read ahead and back-pressure (see readPages). */
  pages<T extends object>(query: TableEntityQueryOptions, signal?: AbortSignal): AsyncGenerator<Page<T>> {
    return readPages<T>(this.table, query, this.timeoutMs, signal);
  }

  /** Whether a query matches anything: one page of at most one entity. */
  async any(filter: string, signal?: AbortSignal): Promise<boolean> {
    return withDeadline(this.timeoutMs, signal, async (abortSignal) => {
      const pages = this.table.listEntities({ queryOptions: { filter, select: ['RowKey'] }, abortSignal }).byPage({ maxPageSize: 1 });
      const first = await pages.next();
      return !first.done && first.value.length > 0;
    });
  }

  /** An entity-group transaction (one partition, at most 100 actions). Returns the ETag of each action's entity, in order. */
  async transaction(actions: TransactionAction[], signal?: AbortSignal): Promise<string[]> {
    const res = await withDeadline(this.timeoutMs, signal, (abortSignal) => this.table.submitTransaction(actions, { abortSignal }));
    return res.subResponses.map((r) => r.etag ?? '');
  }

  /** Conditional on `etag`: 412 when another writer moved it. Returns the new ETag. */
  async update(entity: Entity, mode: UpdateMode, etag: string, signal?: AbortSignal): Promise<string> {
    const res = await withDeadline(this.timeoutMs, signal, (abortSignal) => this.table.updateEntity(entity, mode, { etag, abortSignal }));
    return res.etag ?? etag;
  }

  /** Create only: 409 when it exists. Returns its ETag. */
  async create(entity: Entity, signal?: AbortSignal): Promise<string> {
    const res = await withDeadline(this.timeoutMs, signal, (abortSignal) => this.table.createEntity(entity, { abortSignal }));
    return res.etag ?? '';
  }

  /** Unconditional write (the day index, markers): the last writer wins, which is what they want. */
  async upsert(entity: Entity, mode: UpdateMode, signal?: AbortSignal): Promise<void> {
    await withDeadline(this.timeoutMs, signal, (abortSignal) => this.table.upsertEntity(entity, mode, { abortSignal }));
  }

  /** Every entity a query matches, collected (small lists only: the day index). Its deadline covers all pages. */
  async list<T extends object>(
    query: TableEntityQueryOptions,
    signal?: AbortSignal,
  ): Promise<Array<T & { partitionKey?: string; rowKey?: string }>> {
    return withDeadline(this.timeoutMs * 4, signal, async (abortSignal) => {
      const out: Array<T & { partitionKey?: string; rowKey?: string }> = [];
      for await (const e of this.table.listEntities<T>({ queryOptions: query, abortSignal })) out.push(e);
      return out;
    });
  }
}
