import type { Logger } from 'pino';
import { readFileSync } from 'node:fs';
import type { Config } from './config';
import { Authenticator } from './auth/authenticator';
import { BearerVerifier } from './auth/bearer-verifier';
import type { User } from './auth/users';
import type { BackgroundTask } from './background/task';
import { ApprovalService } from './expenses/approval';
import { ApprovalSweeper } from './expenses/approval-sweeper';
import { ExpenseStore } from './expenses/expense-store';
import { Outbox } from './expenses/outbox';
import { ExportTable } from './export/export-table';
import { AckApplier } from './export/ack-applier';
import { AcknowledgementService } from './export/acknowledgements';
import { DayCloser } from './export/day-closer';
import { LegacyUpgrade } from './export/legacy/legacy-upgrade';
import { ImportLedger } from './results/import-ledger';
import { ResultsImporter } from './results/results-import';
import { handleApproval, type HandlerDeps, type HandlerResult } from './consumer/export-handler';
import { QueueConsumer } from './consumer/consumer';
import { systemClock } from './clock';
import { classifyFailure } from './consumer/errors';
import { decodeApproval } from './expenses/approval-message';
import { PoisonQueue } from './consumer/poison';
import { crashAround } from './faults';
import type { ApprovalMessage } from './expenses/approval-message';
import { createMetrics, type Metrics } from './observability/metrics';
import { QueueDepthMonitor } from './observability/queue-depth';
import { StorageProbe } from './storage/probe';
import { AzureQueue } from './storage/azure-queue';
import type { StorageClients } from './storage/clients';
import { projectFile } from './project-root';
import { builtInLayouts } from './layouts/registry';
import { createDelivery, type DeliveryConfig } from './delivery-wiring';
import { layoutFileSource } from './delivery/layout-file-source';
import { messageId } from './webhooks/outbox';

export type ServiceConfig = Pick<
  Config,
  | 'STORAGE_TIMEOUT_MS'
  | 'EXPORT_TIMEZONE'
  | 'FAULT_CRASH_AT'
  | 'CONSUMER_CONCURRENCY'
  | 'QUEUE_VISIBILITY_TIMEOUT_S'
  | 'QUEUE_MAX_DEQUEUE_COUNT'
  | 'CONSUMER_MAX_IDLE_MS'
  | 'CONSUMER_MAX_OUTAGE_BACKOFF_MS'
  | 'APPROVAL_SWEEP_GRACE_MS'
  | 'APPROVAL_SWEEP_INTERVAL_MS'
  | 'AUTH_MAX_FAILURES'
  | 'AUTH_MAX_FAILURES_PER_ADDRESS'
  | 'AUTH_FAILURE_WINDOW_S'
  | 'EXPORT_MAX_CONCURRENT'
  | 'EXPORT_MAX_CONCURRENT_PER_USER'
  | 'METRICS_TOKEN'
  | 'bearer'
  | 'EXPORT_CLOSE_GRACE_MS'
  | 'EXPORT_CLOSE_INTERVAL_MS'
  | 'ACK_APPLY_INTERVAL_MS'
  | 'RESULTS_MAX_BYTES'
  | keyof DeliveryConfig
> &
  Partial<Pick<Config, 'layouts'>>;

/**
 * Everything the app and the background work share, wired once. Nothing
 * here starts timers or I/O. STORAGE_TIMEOUT_MS is the one deadline every
 * storage call gets, passed to each owner from here. FAULT_CRASH_AT (tests
 * only) is applied here too, by wrapping one method of a collaborator at
 * each crash point, so the domain code never carries it.
 */
export function createServices(
  config: ServiceConfig,
  clients: StorageClients,
  users: readonly User[],
  logger: Logger,
  metrics: Metrics = createMetrics(),
) {
  const timeoutMs = config.STORAGE_TIMEOUT_MS;
  const at = config.FAULT_CRASH_AT;
  const queues = { main: new AzureQueue(clients.queue, timeoutMs), poison: new AzureQueue(clients.poison, timeoutMs) };
  const store = new ExpenseStore(clients, timeoutMs);
  const outbox = new Outbox(clients.outbox, timeoutMs);
  const exportTable = new ExportTable(clients.exports, timeoutMs, {
    logger: logger.child({ component: 'export-table' }),
    clock: systemClock,
    events: {
      conflict: () => metrics.manifestConflicts.inc(),
      late: (_date, rows) => metrics.lateRows.inc(rows.length),
      numbered: (rows) => metrics.legacyRowsNumbered.inc(rows),
    },
  });
  const ackApplier = new AckApplier({
    exportTable,
    store,
    outbox,
    intervalMs: config.ACK_APPLY_INTERVAL_MS,
    logger: logger.child({ component: 'ack-applier' }),
  });
  const acknowledgements = new AcknowledgementService({ exportTable, outbox, applier: ackApplier });
  // A delivered file is a layout's named snapshot: the very bytes and ETag of GET /exports/{date}?through=&layout=.
  const layouts = config.layouts ?? builtInLayouts(config.EXPORT_TIMEZONE);
  const delivery = createDelivery(config, clients, exportTable, layoutFileSource(exportTable, layouts), metrics, logger, at);
  const dayCloser = new DayCloser({
    exportTable,
    timeZone: config.EXPORT_TIMEZONE,
    graceMs: config.EXPORT_CLOSE_GRACE_MS,
    intervalMs: config.EXPORT_CLOSE_INTERVAL_MS,
    logger: logger.child({ component: 'day-closer' }),
    closed: () => delivery.deliveries.nudge(),
  });
  const upgrade = new LegacyUpgrade({
    rows: exportTable.legacy,
    finder: exportTable.legacyFinder,
    openDays: (signal) => exportTable.openDays('1970-01-01', '9999-12-31', signal),
    timeZone: config.EXPORT_TIMEZONE,
    clock: systemClock,
    logger: logger.child({ component: 'legacy-upgrade' }),
  });
  const results = new ResultsImporter({
    store,
    exportTable,
    ledger: new ImportLedger(clients.imports, timeoutMs),
    maxBytes: config.RESULTS_MAX_BYTES,
    logger: logger.child({ component: 'results' }),
    counted: (outcome) => metrics.resultLines.inc({ outcome }),
    imported: (summary) =>
      delivery.emit('results.imported', messageId('results.imported', summary.importId), {
        importId: summary.importId,
        received: summary.received,
        counts: summary.counts,
      }),
  });
  const approvals = new ApprovalService({
    store: crashAround(store, 'replace', 'after', 'after-approve-save', at),
    outbox,
    queue: queues.main,
    timeoutMs,
    timeZone: config.EXPORT_TIMEZONE,
  });
  const poison = new PoisonQueue(queues.main, queues.poison, timeoutMs);
  const handlerDeps: HandlerDeps = {
    store: crashAround(store, 'replace', 'after', 'after-update', at),
    exports: crashAround(exportTable, 'append', 'after', 'after-insert', at),
  };
  const consumerQueue = crashAround(
    crashAround(queues.main, 'receive', 'after', 'after-receive', at, (r) => (r as unknown[]).length > 0),
    'delete',
    'before',
    'before-delete',
    at,
  );
  const consumer = new QueueConsumer<ApprovalMessage, HandlerResult>({
    queue: consumerQueue,
    poison,
    decode: decodeApproval,
    // The handler's warnings go to the message's own logger, so they carry its messageId like every consumer line.
    handle: (msg, signal, log) => handleApproval({ ...handlerDeps, warn: (fields, text) => log.warn(fields, text) }, msg, signal),
    classify: classifyFailure,
    describe: (msg) => ({ expenseId: msg.expenseId }),
    clock: systemClock,
    logger: logger.child({ component: 'consumer' }),
    concurrency: config.CONSUMER_CONCURRENCY,
    visibilityTimeoutSec: config.QUEUE_VISIBILITY_TIMEOUT_S,
    maxDequeueCount: config.QUEUE_MAX_DEQUEUE_COUNT,
    maxIdleMs: config.CONSUMER_MAX_IDLE_MS,
    maxOutageBackoffMs: config.CONSUMER_MAX_OUTAGE_BACKOFF_MS,
    timeoutMs,
    observer: {
      settled(outcome, ms, result) {
        metrics.messages.inc({ outcome });
        metrics.handlerDuration.observe(ms / 1000);
        if (result?.exported === 'inserted') metrics.approvalLag.observe(Math.max(0, Date.now() - Date.parse(result.approvedAt)) / 1000);
      },
    },
  });
  const sweeper = new ApprovalSweeper({
    outbox,
    store,
    approvals,
    graceMs: config.APPROVAL_SWEEP_GRACE_MS,
    intervalMs: config.APPROVAL_SWEEP_INTERVAL_MS,
    logger: logger.child({ component: 'sweeper' }),
  });
  const authenticator = new Authenticator(users, {
    maxFailures: config.AUTH_MAX_FAILURES,
    maxFailuresPerAddress: config.AUTH_MAX_FAILURES_PER_ADDRESS,
    failureWindowSec: config.AUTH_FAILURE_WINDOW_S,
  });
  // No I/O until the first token or /readyz: the issuer's keys are fetched then.
  const bearer = config.bearer ? new BearerVerifier(config.bearer, logger.child({ component: 'bearer' })) : undefined;
  const probe = new StorageProbe(queues.main);
  const depths = new QueueDepthMonitor(queues, metrics, logger.child({ component: 'queue-depth' }));
  const userLayouts = new Map(users.flatMap((u) => (u.layout ? [[u.name, u.layout] as const] : [])));
  /** The layout a user gets when a pull names none (AUTH_USERS); undefined: v1. */
  const defaultLayout = (userName: string | undefined): string | undefined => (userName ? userLayouts.get(userName) : undefined);
  const version = (JSON.parse(readFileSync(projectFile('package.json'), 'utf8')) as { version: string }).version;
  return {
    config,
    clients,
    logger,
    metrics,
    queues,
    store,
    outbox,
    exportTable,
    acknowledgements,
    results,
    ackApplier,
    dayCloser,
    deliveries: delivery.deliveries,
    deliveryLedger: delivery.ledger,
    webhookOutbox: delivery.outbox,
    webhookSender: delivery.webhookSender,
    upgrade,
    approvals,
    poison,
    consumer,
    sweeper,
    authenticator,
    bearer,
    probe,
    depths,
    version,
    layouts,
    defaultLayout,
  };
}

export type Services = ReturnType<typeof createServices>;

/**
 * The background work of a server process, in the order it starts. The
 * consumer is left out when CONSUMER_ENABLED=false; shutdown() stops them
 * (the consumer with its drain budget).
 */
export function backgroundTasks(s: Services, opts: { consumer: boolean }): BackgroundTask[] {
  return [s.upgrade, ...(opts.consumer ? [s.consumer] : []), s.sweeper, s.ackApplier, s.dayCloser, s.deliveries, s.webhookSender, s.depths];
}
