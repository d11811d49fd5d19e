import { odata } from '@azure/data-tables';
import { handleApproval, type HandlerDeps } from '../../src/consumer/export-handler';
import { RetryableError } from '../../src/consumer/errors';
import type { Services } from '../../src/services';
import { testServices } from '../support/storage';

/** Steps 2-5 against real storage, including the paths a retry takes. */
let s: Services;
let deps: HandlerDeps;
const signal = new AbortController().signal;

beforeAll(async () => {
  s = await testServices();
  deps = { store: s.store, exports: s.exportTable };
});

async function approvedExpense(amounts: bigint[]) {
  const e = await s.store.create(
    {
      employee: 'Ada',
      costCenter: 'CC-1',
      reimbursementMethod: 'cash',
      currency: 'USD',
      items: amounts.map((a, i) => ({ description: `i${i}`, amountMinor: a })),
    },
    new Date(),
  );
  const { expense } = await s.approvals.approve(e.id, 'boss');
  return expense;
}

async function exportRows(date: string, id: string) {
  const rows = [];
  for await (const r of s.clients.exports.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${date} and RowKey eq ${id}` } }))
    rows.push(r);
  return rows;
}

test('first delivery inserts the row and moves the expense to processing', async () => {
  const e = await approvedExpense([10n, 20n]);
  const r = await handleApproval(deps, { expenseId: e.id, approvalDate: e.approvalDate! }, signal);
  expect(r).toMatchObject({ exported: 'inserted', transitioned: true });
  expect((await s.store.get(e.id))!.value.state).toBe('processing');
  const rows = await exportRows(e.approvalDate!, e.id);
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ amount: '0.30', approver: 'boss' });
});

test('409 path: a row written by an earlier attempt is kept and processing continues', async () => {
  const e = await approvedExpense([500n]);
  // An earlier attempt died after the insert, before the state update.
  const dying = {
    ...deps,
    exports: {
      append: async (...args: Parameters<typeof s.exportTable.append>) => {
        await s.exportTable.append(...args);
        throw new Error('crash after the insert');
      },
    },
  };
  await expect(handleApproval(dying, { expenseId: e.id, approvalDate: e.approvalDate! }, signal)).rejects.toThrow('crash after the insert');
  expect((await s.store.get(e.id))!.value.state).toBe('approved');
  const r = await handleApproval(deps, { expenseId: e.id, approvalDate: e.approvalDate! }, signal);
  expect(r).toMatchObject({ exported: 'already-present', transitioned: true });
  expect(await exportRows(e.approvalDate!, e.id)).toHaveLength(1);
  expect((await s.store.get(e.id))!.value.state).toBe('processing');
});

test('duplicate delivery after success: row kept, state already processing, nothing changes', async () => {
  const e = await approvedExpense([1n]);
  const msg = { expenseId: e.id, approvalDate: e.approvalDate! };
  await handleApproval(deps, msg, signal);
  const before = (await s.store.get(e.id))!.etag;
  const again = await handleApproval(deps, msg, signal);
  expect(again).toMatchObject({ exported: 'already-present', transitioned: false });
  expect((await s.store.get(e.id))!.etag).toBe(before);
  expect(await exportRows(e.approvalDate!, e.id)).toHaveLength(1);
});

test('stale ETag: the conditional update gets 412, re-reads and succeeds', async () => {
  const e = await approvedExpense([7n]);
  const stale = (await s.store.get(e.id))!;
  // Someone touches the entity (e.g. a metadata edit) after our read: our ETag is now stale.
  await s.store.replace({ ...stale.value, description: 'edited' }, stale.etag);
  const staleStore = Object.create(s.store) as typeof s.store;
  let first = true;
  staleStore.get = async (id, sig) => {
    if (first) {
      first = false;
      return stale;
    }
    return s.store.get(id, sig);
  };
  const r = await handleApproval({ ...deps, store: staleStore }, { expenseId: e.id, approvalDate: e.approvalDate! }, signal);
  expect(r.transitioned).toBe(true);
  const after = (await s.store.get(e.id))!.value;
  expect(after).toMatchObject({ state: 'processing', description: 'edited' });
});

test('a message for a missing expense is retryable, not silently dropped', async () => {
  await expect(handleApproval(deps, { expenseId: 'does-not-exist', approvalDate: '2026-01-01' }, signal)).rejects.toBeInstanceOf(
    RetryableError,
  );
});

test('a message whose date differs from the stored approval date is exported with the stored date, and warned about with both', async () => {
  const e = await approvedExpense([3n]);
  const warnings: Array<[Record<string, unknown>, string]> = [];
  const watched = { ...deps, warn: (fields: Record<string, unknown>, msg: string) => warnings.push([fields, msg]) };
  // The same date as a .NET date-time is no difference.
  await handleApproval(watched, { expenseId: e.id, approvalDate: `${e.approvalDate!}T09:30:00.1234567+01:00` }, signal);
  expect(warnings).toEqual([]);

  const r = await handleApproval(watched, { expenseId: e.id, approvalDate: '2020-01-02T10:00:00Z' }, signal);
  expect(r.exported).toBe('already-present'); // the row of the stored date, not one of 2020-01-02
  expect(await exportRows('2020-01-02', e.id)).toHaveLength(0);
  expect(warnings).toEqual([[{ messageApprovalDate: '2020-01-02T10:00:00Z', storedApprovalDate: e.approvalDate }, expect.any(String)]]);
});
