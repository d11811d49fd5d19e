import { randomBytes, randomUUID } from 'node:crypto';
import pino from 'pino';
import { loadConfig, type Config } from '../src/config';
import { createLogger } from '../src/observability/logger';
import { createMetrics, type Metrics } from '../src/observability/metrics';
import { createServices, type Services } from '../src/services';
import { createStorageClients, provisionStorage, type StorageClients, type StorageNames } from '../src/storage/clients';
import { storageEnv, uniqueStorageNames } from '../harness/child-server';
import { hashPassword } from '../src/auth/password';
import { encodeItems, type ExportRow } from '../src/export/export-row';
import { ExportTable } from '../src/export/export-table';

export interface BenchContext {
  connectionString: string;
  /** Azurite's own process, for CPU attribution. */
  azuritePid: number;
  quick: boolean;
  user: BenchUser;
  /** One line of progress on stderr, so stdout stays the results table. */
  say(message: string): void;
}

export interface BenchUser {
  name: string;
  authorization: string;
  /** AUTH_USERS for a spawned server. */
  usersJson: string;
}

export async function benchUser(): Promise<BenchUser> {
  const name = 'bench';
  const password = randomBytes(18).toString('base64url');
  // exporter for the route under test; admin so the bench may read /metrics for the back-pressure check.
  const usersJson = JSON.stringify([{ name, roles: ['exporter', 'admin'], passwordHash: await hashPassword(password) }]);
  return { name, authorization: `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`, usersJson };
}

/** Unique names per step: Azurite slows down as a table grows, so no step inherits another's rows. */
export const benchNames = (tag: string): StorageNames => uniqueStorageNames(`B${tag}`);
export type BenchNames = StorageNames;

/** The bench's own storage calls (seeding, raw baselines): generous, since Azurite is loaded on purpose. */
export const BENCH_STORAGE_TIMEOUT_MS = 10_000;

export async function benchClients(connectionString: string, names: BenchNames): Promise<StorageClients> {
  const clients = createStorageClients({ kind: 'connection-string', connectionString }, names);
  await provisionStorage(clients, BENCH_STORAGE_TIMEOUT_MS);
  return clients;
}

/** Env for `expense-export serve` against the bench's Azurite and the given tables. */
export function serverEnv(ctx: BenchContext, names: BenchNames, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...storageEnv(ctx.connectionString, names),
    NODE_ENV: 'production',
    AUTH_USERS: ctx.user.usersJson,
    DEMO_DATA: 'false',
    CONSUMER_ENABLED: 'false',
    ...extra,
  };
}

const EMPLOYEES = [
  'Ada Lovelace',
  'Grace Hopper',
  'Smith, Jane',
  'Alan "Al" Turing',
  'Katherine Johnson',
  '=HYPERLINK("x")',
  'Edsger Dijkstra',
  'Barbara Liskov',
  'José Müller-Øst',
];
const METHODS = ['direct_deposit', 'check', 'cash'];

/** A realistic export row; a few cells need quoting or the formula guard, as real names do. */
export function fakeExportRow(date: string, i: number): ExportRow {
  const id = randomUUID();
  return {
    partitionKey: date,
    rowKey: id,
    attempt: 1,
    expenseId: id,
    approvedAt: new Date(Date.parse(`${date}T08:00:00.000Z`) + i * 997).toISOString(),
    approver: i % 3 === 0 ? 'approver' : 'manager.two',
    employee: EMPLOYEES[i % EMPLOYEES.length],
    costCenter: `CC-${100 + (i % 40)}`,
    reimbursementMethod: METHODS[i % METHODS.length],
    currency: i % 10 === 0 ? 'JPY' : 'USD',
    amount: i % 10 === 0 ? String(1000 + i) : `${(i % 900) + 1}.${String(i % 100).padStart(2, '0')}`,
    employeeNumber: `P-${10000 + (i % 5000)}`,
    items: threeItems(i),
  };
}

const CATEGORIES = ['TRAVEL', 'MEALS', 'LODGING', 'OFFICE', 'MISC'];

/** Three line items (the layouts bench's item grain) that add up to the row's amount exactly. */
function threeItems(i: number): string {
  const minor = i % 10 === 0 ? BigInt(1000 + i) : BigInt((i % 900) + 1) * 100n + BigInt(i % 100);
  const third = minor / 3n;
  return encodeItems(
    [third, third, minor - 2n * third].map((amountMinor, k) => ({
      description: '',
      amountMinor,
      category: CATEGORIES[(i + k) % CATEGORIES.length],
    })),
  );
}

/**
 * Seeds one day through the export table's owner, as the consumer writes it:
 * rows numbered with their manifest, 99 to a transaction (group commit).
 */
export async function seedPartition(exportTable: ExportTable, date: string, count: number, from = 0): Promise<void> {
  for (let i = 0; i < count; i += 990) {
    const chunk = Array.from({ length: Math.min(990, count - i) }, (_, j) => fakeExportRow(date, from + i + j));
    await Promise.all(chunk.map((row) => exportTable.append(row)));
  }
}

/** The export table's owner on a bench's clients (for seeding), logging nowhere. */
export const benchExportTable = (clients: StorageClients): ExportTable =>
  new ExportTable(clients.exports, BENCH_STORAGE_TIMEOUT_MS, { logger: pino({ level: 'silent' }) });

/** The app's services on `clients`, logging one line per message at info as production does, into /dev/null. */
export function benchServices(
  clients: StorageClients,
  env: Record<string, string> = {},
): { config: Config; services: Services; metrics: Metrics } {
  const config = loadConfig({ AZURITE_IN_MEMORY: 'true', ...env });
  const logger = createLogger({ level: 'info', pretty: false, destination: pino.destination({ dest: '/dev/null', sync: true }) });
  const metrics = createMetrics({ defaultMetrics: false });
  return { config, services: createServices(config, clients, [], logger, metrics), metrics };
}

/** The middle value; for an even count, the mean of the two middle ones. */
export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((p, q) => p - q);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

export { setTimeout as sleep } from 'node:timers/promises';

/** Seconds spent in `fn`, measured with the monotonic clock. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const start = performance.now();
  const value = await fn();
  return { value, seconds: (performance.now() - start) / 1000 };
}

export const round = (n: number, digits = 0) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : n);
