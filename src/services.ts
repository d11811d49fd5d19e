import type { Logger } from 'pino';
import { readFileSync } from 'node:fs';
import type { Config } from './config';
import { Authenticator } from './auth/authenticator';
import type { User } from './auth/users';
import { ApprovalService } from './expenses/approval';
import { ApprovalSweeper } from './expenses/approval-sweeper';
import { ExpenseStore } from './expenses/expense-store';
import { handleApproval } from './consumer/export-handler';
import { QueueConsumer } from './consumer/consumer';
import { PoisonQueue } from './consumer/poison';
import { crashHook } from './faults';
import { createMetrics, type Metrics } from './observability/metrics';
import { QueueDepthMonitor } from './observability/queue-depth';
import { StorageProbe } from './storage/probe';
import type { StorageClients } from './storage/clients';
import { projectFile } from './project-root';

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
  | 'AUTH_FAILURE_WINDOW_S'
  | 'EXPORT_MAX_CONCURRENT'
  | 'EXPORT_MAX_CONCURRENT_PER_USER'
  | 'METRICS_TOKEN'
>;

/** Everything the app and the background work share, wired once. Nothing here starts timers or I/O. */
export function createServices(
  config: ServiceConfig,
  clients: StorageClients,
  users: readonly User[],
  logger: Logger,
  metrics: Metrics = createMetrics(),
) {
  const crash = crashHook(config.FAULT_CRASH_AT);
  const timeoutMs = config.STORAGE_TIMEOUT_MS;
  const store = new ExpenseStore(clients);
  const approvals = new ApprovalService({
    store,
    outbox: clients.outbox,
    queue: clients.queue,
    timeoutMs,
    timeZone: config.EXPORT_TIMEZONE,
    crash,
  });
  const poison = new PoisonQueue(clients.queue, clients.poison, timeoutMs);
  const consumerLog = logger.child({ component: 'consumer' });
  const consumer = new QueueConsumer({
    queue: clients.queue,
    poison,
    handle: (msg, signal) => handleApproval({ store, exports: clients.exports, timeoutMs, crash }, msg, signal),
    logger: consumerLog,
    concurrency: config.CONSUMER_CONCURRENCY,
    visibilityTimeoutSec: config.QUEUE_VISIBILITY_TIMEOUT_S,
    maxDequeueCount: config.QUEUE_MAX_DEQUEUE_COUNT,
    maxIdleMs: config.CONSUMER_MAX_IDLE_MS,
    maxOutageBackoffMs: config.CONSUMER_MAX_OUTAGE_BACKOFF_MS,
    timeoutMs,
    crash,
    observer: {
      settled(outcome, ms, result) {
        metrics.messages.inc({ outcome });
        metrics.handlerDuration.observe(ms / 1000);
        if (result?.exported === 'inserted') metrics.approvalLag.observe(Math.max(0, Date.now() - Date.parse(result.approvedAt)) / 1000);
      },
    },
  });
  const sweeper = new ApprovalSweeper({
    outbox: clients.outbox,
    store,
    approvals,
    timeoutMs,
    graceMs: config.APPROVAL_SWEEP_GRACE_MS,
    intervalMs: config.APPROVAL_SWEEP_INTERVAL_MS,
    logger: logger.child({ component: 'sweeper' }),
  });
  const authenticator = new Authenticator(users, { maxFailures: config.AUTH_MAX_FAILURES, failureWindowSec: config.AUTH_FAILURE_WINDOW_S });
  const probe = new StorageProbe(clients);
  const depths = new QueueDepthMonitor(clients, metrics);
  const version = (JSON.parse(readFileSync(projectFile('package.json'), 'utf8')) as { version: string }).version;
  return { config, clients, logger, metrics, store, approvals, poison, consumer, sweeper, authenticator, probe, depths, version };
}

export type Services = ReturnType<typeof createServices>;
