import { odata, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import { randomUUID } from 'node:crypto';
import type { StorageClients } from '../storage/clients';
import { INITIAL_STATE } from './lifecycle';
import { withDeadline } from '../storage/deadline';
import { isNotFound } from '../storage/errors';
import type { Expense, ExpenseItem, NewExpense } from './model';
import { RESULT_ROW_PREFIX, resultRowKey, type ResultRecord } from './result-history';
import type { ResultStatus } from './lifecycle';

const EXPENSE_ROW = 'expense';

type ExpenseEntity = Omit<Expense, 'id'> & { partitionKey: string; rowKey: string };
interface ItemEntity extends Record<string, unknown> {
  partitionKey: string;
  rowKey: string;
  description: string;
  amountMinor: string;
  category?: string;
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
    employeeNumber: pick('employeeNumber'),
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
/** A result row without its table keys and metadata. */
function recordOf(e: TableEntityResult<ResultRecord>): ResultRecord {
  const { partitionKey: _p, rowKey: _r, etag: _e, timestamp: _t, ...record } = e;
  return record;
}

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
    await this.writeItems(id, input.items, 0, signal);
    const expense: Expense = {
      id,
      employee: input.employee,
      costCenter: input.costCenter,
      reimbursementMethod: input.reimbursementMethod,
      currency: input.currency,
      description: input.description,
      employeeNumber: input.employeeNumber,
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
          queryOptions: { filter: odata`PartitionKey eq ${id}`, select: ['RowKey', 'description', 'amountMinor', 'category'] },
          abortSignal,
        })
        .byPage({ maxPageSize: 1000 });
      for await (const page of pages) {
        for (const e of page)
          out.push({ description: e.description, amountMinor: BigInt(e.amountMinor), ...(e.category ? { category: e.category } : {}) });
      }
      return out;
    });
  }

  /**
   * Replaces an expense's content and items (a correction): the expense row
   * first, conditional on the ETag read (a concurrent change is a 412), then
   * the items in one transaction, including the deletion of items beyond the
   * new count.
   */
  async correct(expense: Expense, items: readonly ExpenseItem[], etag: string, signal?: AbortSignal): Promise<void> {
    const before = (await this.items(expense.id, signal)).length;
    await this.replace(expense, etag, signal);
    await this.writeItems(expense.id, items, before, signal);
  }

  private async writeItems(id: string, items: readonly ExpenseItem[], existing: number, signal?: AbortSignal): Promise<void> {
    const key = (i: number) => String(i).padStart(4, '0');
    const actions: TransactionAction[] = items.map((item, i) => [
      'upsert',
      {
        partitionKey: id,
        rowKey: key(i),
        description: item.description,
        amountMinor: item.amountMinor.toString(),
        ...(item.category ? { category: item.category } : {}),
      } satisfies ItemEntity,
      'Replace',
    ]);
    for (let i = items.length; i < existing; i++) actions.push(['delete', { partitionKey: id, rowKey: key(i) }]);
    await this.call(signal, (abortSignal) => this.c.items.submitTransaction(actions, { abortSignal }));
  }

  /**
   * A result: the expense's new state and the result's record, in one
   * transaction of the expense's partition, conditional on the ETag read.
   * 409: this status was applied to this approval already; 412: the expense changed.
   */
  async applyResult(expense: Expense, etag: string, record: ResultRecord, signal?: AbortSignal): Promise<void> {
    const history = { partitionKey: expense.id, rowKey: resultRowKey(record.attempt, record.status), ...record };
    await this.call(signal, (abortSignal) =>
      this.c.expenses.submitTransaction(
        [
          ['update', toEntity(expense), 'Replace', { etag }],
          ['create', history],
        ],
        { abortSignal },
      ),
    );
  }

  /** The results applied to an expense, in approval-attempt then status order. */
  async results(id: string, signal?: AbortSignal): Promise<ResultRecord[]> {
    return this.call(signal, async (abortSignal) => {
      const out: ResultRecord[] = [];
      const filter = odata`PartitionKey eq ${id} and RowKey ge ${RESULT_ROW_PREFIX} and RowKey lt ${'result/'}`;
      for await (const e of this.c.expenses.listEntities<ResultRecord>({ queryOptions: { filter }, abortSignal })) out.push(recordOf(e));
      return out;
    });
  }

  /** The record of a status applied to one approval attempt, if any (one point read). */
  async result(id: string, attempt: number, status: ResultStatus, signal?: AbortSignal): Promise<ResultRecord | undefined> {
    try {
      const e = await this.call(signal, (abortSignal) =>
        this.c.expenses.getEntity<ResultRecord>(id, resultRowKey(attempt, status), { abortSignal }),
      );
      return recordOf(e);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Conditional on the ETag we read: a concurrent writer makes this fail with 412 instead of being overwritten. */
  async replace(expense: Expense, etag: string, signal?: AbortSignal): Promise<string> {
    const res = await this.call(signal, (abortSignal) => this.c.expenses.updateEntity(toEntity(expense), 'Replace', { etag, abortSignal }));
    return res.etag ?? etag;
  }
}
