import { odata, type TableEntityResult } from '@azure/data-tables';
import { randomUUID } from 'node:crypto';
import type { StorageClients } from '../storage/clients';
import { INITIAL_STATE } from './lifecycle';
import { withDeadline } from '../storage/deadline';
import { isNotFound } from '../storage/errors';
import type { Expense, ExpenseItem, NewExpense } from './model';

const EXPENSE_ROW = 'expense';

type ExpenseEntity = Omit<Expense, 'id'> & { partitionKey: string; rowKey: string };
interface ItemEntity extends Record<string, unknown> {
  partitionKey: string;
  rowKey: string;
  description: string;
  amountMinor: string;
}

export interface Versioned<T> {
  value: T;
  etag: string;
}

function fromEntity(e: TableEntityResult<Record<string, unknown>>): Expense {
  const pick = (k: string) => (typeof e[k] === 'string' ? e[k] : undefined);
  return {
    id: e.partitionKey!,
    employee: pick('employee')!,
    costCenter: pick('costCenter')!,
    reimbursementMethod: pick('reimbursementMethod') as Expense['reimbursementMethod'],
    currency: pick('currency')!,
    description: pick('description'),
    state: pick('state') as Expense['state'],
    createdAt: pick('createdAt')!,
    approvedAt: pick('approvedAt'),
    approver: pick('approver'),
    approvalDate: pick('approvalDate'),
    approvalAttempt: typeof e.approvalAttempt === 'number' ? e.approvalAttempt : undefined,
  };
}

function toEntity(x: Expense): ExpenseEntity {
  const { id, ...rest } = x;
  const entity: ExpenseEntity = { partitionKey: id, rowKey: EXPENSE_ROW, ...rest };
  for (const k of Object.keys(entity) as Array<keyof ExpenseEntity>) if (entity[k] === undefined) delete entity[k];
  return entity;
}

/**
 * Expenses (PK = expense id) and their line items (PK = expense id, one row
 * per item). Every read is a point read or a single-partition query.
 */
export class ExpenseStore {
  constructor(
    private readonly c: Pick<StorageClients, 'expenses' | 'items'>,
    private readonly timeoutMs: number,
  ) {}

  private call<T>(signal: AbortSignal | undefined, fn: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    return withDeadline(this.timeoutMs, signal, fn);
  }

  /** Items first, in one transaction; the expense row last makes the whole visible. A crash in between leaves only unreachable items. */
  async create(input: NewExpense, now: Date, signal?: AbortSignal, id: string = randomUUID()): Promise<Expense> {
    const items: ItemEntity[] = input.items.map((item, i) => ({
      partitionKey: id,
      rowKey: String(i).padStart(4, '0'),
      description: item.description,
      amountMinor: item.amountMinor.toString(),
    }));
    await this.call(signal, (abortSignal) =>
      this.c.items.submitTransaction(
        items.map((e) => ['upsert', e, 'Replace']),
        { abortSignal },
      ),
    );
    const expense: Expense = {
      id,
      employee: input.employee,
      costCenter: input.costCenter,
      reimbursementMethod: input.reimbursementMethod,
      currency: input.currency,
      description: input.description,
      state: INITIAL_STATE,
      createdAt: now.toISOString(),
    };
    await this.call(signal, (abortSignal) => this.c.expenses.createEntity(toEntity(expense), { abortSignal }));
    return expense;
  }

  async get(id: string, signal?: AbortSignal): Promise<Versioned<Expense> | undefined> {
    try {
      const e = await this.call(signal, (abortSignal) =>
        this.c.expenses.getEntity<Record<string, unknown>>(id, EXPENSE_ROW, { abortSignal }),
      );
      return { value: fromEntity(e), etag: e.etag };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async items(id: string, signal?: AbortSignal): Promise<ExpenseItem[]> {
    return this.call(signal, async (abortSignal) => {
      const out: ExpenseItem[] = [];
      const pages = this.c.items
        .listEntities<ItemEntity>({
          queryOptions: { filter: odata`PartitionKey eq ${id}`, select: ['RowKey', 'description', 'amountMinor'] },
          abortSignal,
        })
        .byPage({ maxPageSize: 1000 });
      for await (const page of pages) {
        for (const e of page) out.push({ description: e.description, amountMinor: BigInt(e.amountMinor) });
      }
      return out;
    });
  }

  /** Conditional on the ETag we read: a concurrent writer makes this fail with 412 instead of being overwritten. */
  async replace(expense: Expense, etag: string, signal?: AbortSignal): Promise<string> {
    const res = await this.call(signal, (abortSignal) => this.c.expenses.updateEntity(toEntity(expense), 'Replace', { etag, abortSignal }));
    return res.etag ?? etag;
  }
}
