import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { OUTCOMES } from '../consumer/consumer';
import { LINE_OUTCOMES } from '../results/apply-result';

/**
 * One registry per app instance, so tests can build many apps without
 * "metric already registered". Every known label value starts at zero, so
 * that `increase(...[10m])` sees the first poisoned message after a restart
 * rather than a series that appears out of nowhere.
 */
export function createMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const m = registerMetrics(opts);
  for (const outcome of OUTCOMES) m.messages.inc({ outcome }, 0);
  for (const outcome of LINE_OUTCOMES) m.resultLines.inc({ outcome }, 0);
  return m;
}

function registerMetrics(opts: { defaultMetrics?: boolean }) {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    }),
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    messages: new Counter({
      name: 'consumer_messages_total',
      help: 'Queue messages by outcome (deleted, retried, poisoned, lost, abandoned)',
      labelNames: ['outcome'],
      registers,
    }),
    handlerDuration: new Histogram({
      name: 'consumer_handler_duration_seconds',
      help: 'Time from receive to settle for one message',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    approvalLag: new Histogram({
      name: 'approval_to_export_lag_seconds',
      help: 'From approval to the export row being written',
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers,
    }),
    queueDepth: new Gauge({
      name: 'queue_depth',
      help: 'Approximate message count (refreshed periodically)',
      labelNames: ['queue'],
      registers,
    }),
    exportRows: new Counter({ name: 'export_rows_streamed_total', help: 'CSV rows written to export responses', registers }),
    resultLines: new Counter({
      name: 'results_lines_total',
      help: 'Result lines imported, by outcome (applied, noop, unknown_expense, invalid_transition, amount_mismatch, bad_row)',
      labelNames: ['outcome'],
      registers,
    }),
    lateRows: new Counter({ name: 'export_late_rows_total', help: 'Export rows appended to a day that was already closed', registers }),
    deliveryAttempts: new Counter({
      name: 'delivery_attempts_total',
      help: 'Delivery attempts by target and outcome (delivered, retry, failed)',
      labelNames: ['target', 'outcome'],
      registers,
    }),
    deliveriesFailed: new Gauge({
      name: 'deliveries_failed',
      help: 'Deliveries in state failed (given up after DELIVERY_MAX_ATTEMPTS, or refused), within DELIVERY_LOOKBACK_DAYS',
      labelNames: ['target'],
      registers,
    }),
    deliveryLag: new Histogram({
      name: 'delivery_lag_seconds',
      help: 'From the day closing (a supplementary file: from its rows being found) to the file and its sidecar delivered',
      labelNames: ['target'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600],
      registers,
    }),
    webhookAttempts: new Counter({
      name: 'webhook_attempts_total',
      help: 'Webhook sends by endpoint and outcome (sent, retry, failed)',
      labelNames: ['endpoint', 'outcome'],
      registers,
    }),
    manifestConflicts: new Counter({
      name: 'export_manifest_conflicts_total',
      help: 'Appends retried because another writer moved the day manifest first (HTTP 412)',
      registers,
    }),
    legacyRowsNumbered: new Counter({
      name: 'export_legacy_rows_numbered_total',
      help: 'Export rows written by an earlier release without a seq, numbered by this instance (the upgrade to numbered rows)',
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof registerMetrics>;
