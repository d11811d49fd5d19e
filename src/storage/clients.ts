import { TableClient, TableServiceClient, type TableServiceClientOptions } from '@azure/data-tables';
import { QueueClient, QueueServiceClient, StorageRetryPolicyType, type StoragePipelineOptions } from '@azure/storage-queue';
import type { TokenCredential } from '@azure/core-auth';
import { PROVISION_DEADLINE_FACTOR, withDeadline } from './deadline';
import { installQueueTextPolicy } from './queue-text';

export interface StorageClients {
  expenses: TableClient;
  items: TableClient;
  exports: TableClient;
  outbox: TableClient;
  /** Results imports by Idempotency-Key, with their stored responses. */
  imports: TableClient;
  /** The delivery ledger: one entity per (target, date, seq range), and each attempt. */
  deliveries: TableClient;
  /** Webhook messages to send, each until its receiver took it (or it failed for good). */
  webhookOutbox: TableClient;
  /** Where these clients point (delivery targets without an account of their own use the same one). */
  source: ResolvedStorage;
  tableService: TableServiceClient;
  queue: QueueClient;
  poison: QueueClient;
  queueService: QueueServiceClient;
}

/** The tables and queues of one installation (configurable, so that tests and benches can isolate themselves). */
export interface StorageNames {
  EXPENSES_TABLE: string;
  EXPENSE_ITEMS_TABLE: string;
  EXPORT_TABLE: string;
  OUTBOX_TABLE: string;
  RESULT_IMPORTS_TABLE: string;
  APPROVALS_QUEUE: string;
  poisonQueue: string;
  DELIVERIES_TABLE?: string;
  WEBHOOK_OUTBOX_TABLE?: string;
}

/** Where the storage account is (config.ts decides it from the environment). */
export type StorageSource =
  | { kind: 'connection-string'; connectionString: string }
  | { kind: 'identity'; tableEndpoint: string; queueEndpoint: string }
  | { kind: 'embedded'; location: string; inMemory: boolean };

export type ResolvedStorage = Exclude<StorageSource, { kind: 'embedded' }>;

// Our own deadlines (abortSignal) bound each call; the SDK's retries only smooth over blips inside that budget.
const tableOptions = (insecure: boolean): TableServiceClientOptions => ({
  allowInsecureConnection: insecure,
  retryOptions: { maxRetries: 2, retryDelayInMs: 100, maxRetryDelayInMs: 1000 },
});
const queueOptions: StoragePipelineOptions = {
  retryOptions: { retryPolicyType: StorageRetryPolicyType.EXPONENTIAL, maxTries: 3, retryDelayInMs: 100, maxRetryDelayInMs: 1000 },
};

const isInsecure = (cs: string) => /DefaultEndpointsProtocol=http;|UseDevelopmentStorage=true|=http:\/\//i.test(cs);

/**
 * Picks the client construction the Azure SDK conventions imply: a connection
 * string (shared key or SAS, real Azure or Azurite), else endpoints with a
 * token credential (DefaultAzureCredential: managed identity in Azure).
 */
export function createStorageClients(
  source: ResolvedStorage,
  names: StorageNames,
  credentialFactory: () => TokenCredential = defaultCredential,
): StorageClients {
  let table: (name: string) => TableClient;
  let tableService: TableServiceClient;
  let queueService: QueueServiceClient;
  if (source.kind === 'connection-string') {
    const opts = tableOptions(isInsecure(source.connectionString));
    table = (name) => TableClient.fromConnectionString(source.connectionString, name, opts);
    tableService = TableServiceClient.fromConnectionString(source.connectionString, opts);
    queueService = QueueServiceClient.fromConnectionString(source.connectionString, queueOptions);
  } else {
    const credential = credentialFactory();
    const opts = tableOptions(source.tableEndpoint.startsWith('http:'));
    table = (name) => new TableClient(source.tableEndpoint, name, credential, opts);
    tableService = new TableServiceClient(source.tableEndpoint, credential, opts);
    queueService = new QueueServiceClient(source.queueEndpoint, credential, queueOptions);
  }
  // On the service client's pipeline, which every queue client below shares: message text keeps its CR and LF.
  installQueueTextPolicy(queueService);
  return {
    expenses: table(names.EXPENSES_TABLE),
    items: table(names.EXPENSE_ITEMS_TABLE),
    exports: table(names.EXPORT_TABLE),
    outbox: table(names.OUTBOX_TABLE),
    imports: table(names.RESULT_IMPORTS_TABLE),
    deliveries: table(names.DELIVERIES_TABLE ?? 'ExpenseDeliveries'),
    webhookOutbox: table(names.WEBHOOK_OUTBOX_TABLE ?? 'WebhookOutbox'),
    source,
    tableService,
    queue: queueService.getQueueClient(names.APPROVALS_QUEUE),
    poison: queueService.getQueueClient(names.poisonQueue),
    queueService,
  };
}

function defaultCredential(): TokenCredential {
  // Loaded lazily: @azure/identity is heavy and unused with connection strings.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { DefaultAzureCredential } = require('@azure/identity') as typeof import('@azure/identity');
  return new DefaultAzureCredential();
}

/** Creates tables and queues if missing; safe to run from many instances at once. */
export async function provisionStorage(c: StorageClients, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const t = timeoutMs * PROVISION_DEADLINE_FACTOR;
  await Promise.all([
    ...[c.expenses, c.items, c.exports, c.outbox, c.imports, c.deliveries, c.webhookOutbox].map((tc) =>
      withDeadline(t, signal, (abortSignal) => tc.createTable({ abortSignal })),
    ),
    ...[c.queue, c.poison].map((q) => withDeadline(t, signal, (abortSignal) => q.createIfNotExists({ abortSignal }))),
  ]);
}
