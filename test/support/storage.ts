import pino from 'pino';
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { createStorageClients, provisionStorage, type StorageClients, type StorageNames } from '../../src/storage/clients';
import { uniqueStorageNames } from '../../harness/child-server';
import { createServices, type ServiceConfig, type Services } from '../../src/services';
import { createMetrics } from '../../src/observability/metrics';
import type { User } from '../../src/auth/users';
import { loadConfig } from '../../src/config';
import type { ExportRow } from '../../src/export/export-row';
import type { ExportTable } from '../../src/export/export-table';

export function azuriteConnectionString(): string {
  const cs = process.env.TEST_AZURITE_CONNECTION_STRING;
  if (!cs) throw new Error('TEST_AZURITE_CONNECTION_STRING missing: the jest globalSetup starts Azurite');
  return cs;
}

/** Unique table and queue names, so test files never see each other's data. */
export const uniqueNames = (): StorageNames => uniqueStorageNames();

/** The deadline of every storage call in tests unless a test sets its own (STORAGE_TIMEOUT_MS). */
export const TEST_STORAGE_TIMEOUT_MS = 5000;

export async function testClients(names = uniqueNames(), connectionString = azuriteConnectionString()): Promise<StorageClients> {
  const clients = createStorageClients({ kind: 'connection-string', connectionString }, names);
  await provisionStorage(clients, TEST_STORAGE_TIMEOUT_MS);
  return clients;
}

export const silentLogger = pino({ level: 'silent' });

/** The service defaults, with test-friendly overrides. */
export function testConfig(overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  // No default blob target: a test that delivers names its own container (see test/support/delivery.ts).
  const base = loadConfig({ AZURITE_IN_MEMORY: 'true', DELIVERY_EMBEDDED_BLOB: 'false' });
  return { ...base, STORAGE_TIMEOUT_MS: TEST_STORAGE_TIMEOUT_MS, CONSUMER_MAX_IDLE_MS: 200, APPROVAL_SWEEP_GRACE_MS: 0, ...overrides };
}

export async function testServices(
  opts: { users?: User[]; config?: Partial<ServiceConfig>; clients?: StorageClients } = {},
): Promise<Services> {
  const clients = opts.clients ?? (await testClients());
  return createServices(testConfig(opts.config), clients, opts.users ?? [], silentLogger, createMetrics({ defaultMetrics: false }));
}

/** The SDK types the count as optional; a missing one reads as 0, as in the service's own queueDepth. */
export async function queueDepth(queue: StorageClients['queue']): Promise<number> {
  return (await queue.getProperties()).approximateMessagesCount ?? 0;
}

/** The cells of a test row; the expense id doubles as its row key (a first approval). */
export type TestRow = Omit<ExportRow, 'partitionKey' | 'rowKey' | 'attempt'>;

/** One export row of a test day: employee `=SUM(A1)` for id `b` (a formula cell to guard), Ada otherwise. */
export const testExportRow = (date: string, id: string, amount = '1.00', currency = 'USD'): ExportRow => ({
  partitionKey: date,
  rowKey: id,
  attempt: 1,
  expenseId: id,
  approvedAt: `${date}T10:00:00.000Z`,
  approver: 'boss',
  employee: id === 'b' ? '=SUM(A1)' : 'Ada',
  costCenter: 'CC-1',
  reimbursementMethod: 'cash',
  currency,
  amount,
});

/**
 * `count` export rows on `date`, appended through the export table's owner
 * (with seqs and the manifest, in group-committed transactions), as the
 * consumer writes them.
 */
export async function seedExportRows(exportTable: ExportTable, date: string, count: number, rowFor: (i: number) => TestRow): Promise<void> {
  for (let i = 0; i < count; i += 500) {
    const chunk = Array.from({ length: Math.min(500, count - i) }, (_, k) => rowFor(i + k));
    await Promise.all(chunk.map((r) => exportTable.append({ partitionKey: date, rowKey: r.expenseId, attempt: 1, ...r })));
  }
}

/**
 * Rows as the previous release wrote them: RowKey = expense id, the cells,
 * no seq, no expenseId, no manifest. Written raw, in transactions of 100:
 * what the upgrade must find and number.
 */
export async function seedLegacyRows(table: TableClient, date: string, count: number, rowFor: (i: number) => TestRow): Promise<void> {
  for (let i = 0; i < count; i += 100) {
    const batch = Array.from({ length: Math.min(100, count - i) }, (_, k): TransactionAction => {
      const { expenseId, ...cells } = rowFor(i + k);
      return ['create', { ...cells, partitionKey: date, rowKey: expenseId }];
    });
    await table.submitTransaction(batch);
  }
}
