import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { TokenCredential } from '@azure/core-auth';
import type { Config, CrashPoint } from './config';
import { crashAround, crashHook } from './faults';
import type { ExportTable } from './export/export-table';
import type { Metrics } from './observability/metrics';
import type { StorageClients } from './storage/clients';
import { DayEvents } from './webhooks/day-events';
import { messageId, WebhookOutbox } from './webhooks/outbox';
import { WebhookSender } from './webhooks/webhook-sender';
import { blobContainer, BlobSink } from './delivery/blob-sink';
import { Deliverer, type DeliveryOutcome } from './delivery/deliverer';
import { DeliveryTask } from './delivery/delivery-task';
import type { FileSource } from './delivery/file-source';
import { DeliveryLedger } from './delivery/ledger';
import { SftpSink } from './delivery/sftp-sink';
import type { Sink } from './delivery/sink';
import type { DeliveryTarget } from './delivery/targets';

export type DeliveryConfig = Pick<
  Config,
  | 'STORAGE_TIMEOUT_MS'
  | 'EXPORT_TIMEZONE'
  | 'DELIVERY_INTERVAL_MS'
  | 'DELIVERY_LOOKBACK_DAYS'
  | 'DELIVERY_MAX_ATTEMPTS'
  | 'DELIVERY_RETRY_BASE_MS'
  | 'DELIVERY_LEASE_MS'
  | 'DELIVERY_CONCURRENCY'
  | 'WEBHOOK_INTERVAL_MS'
  | 'WEBHOOK_TIMEOUT_MS'
  | 'WEBHOOK_MAX_ATTEMPTS'
  | 'WEBHOOK_RETRY_BASE_MS'
  | 'deliveryTargets'
  | 'webhooks'
>;

function defaultCredential(): TokenCredential {
  // Loaded lazily, as in storage/clients.ts: heavy and unused with connection strings.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { DefaultAzureCredential } = require('@azure/identity') as typeof import('@azure/identity');
  return new DefaultAzureCredential();
}

/** A sink per attempt (an SFTP connection lives as long as one delivery). */
export function sinkFactory(clients: Pick<StorageClients, 'source'>, logger: Logger): (t: DeliveryTarget) => Sink {
  // A blob sink holds no connection, only whether its container is known to exist: one per target.
  const blobs = new Map<string, Sink>();
  return (t) => {
    if (t.kind === 'sftp') return new SftpSink(t, logger);
    let sink = blobs.get(t.name);
    if (!sink) blobs.set(t.name, (sink = blobSink(t)));
    return sink;
  };
  function blobSink(t: Extract<DeliveryTarget, { kind: 'blob' }>): Sink {
    if (t.connectionString) return new BlobSink(blobContainer({ connectionString: t.connectionString }, t.container));
    if (t.accountUrl) return new BlobSink(blobContainer({ accountUrl: t.accountUrl, credential: defaultCredential() }, t.container));
    const source = clients.source;
    if (source.kind !== 'connection-string') throw new Error(`target "${t.name}" needs connectionString or accountUrl`);
    return new BlobSink(blobContainer({ connectionString: source.connectionString }, t.container));
  }
}

/** Delivery and webhooks, wired from configuration: the ledger, the outbox and their two background loops. */
export function createDelivery(
  config: DeliveryConfig,
  clients: Pick<StorageClients, 'source' | 'deliveries' | 'webhookOutbox'>,
  exportTable: ExportTable,
  source: FileSource,
  metrics: Metrics,
  logger: Logger,
  /** FAULT_CRASH_AT (tests only): applied here, as services.ts does for the rest. */
  at?: CrashPoint,
) {
  const timeoutMs = config.STORAGE_TIMEOUT_MS;
  const targets = config.deliveryTargets;
  const outbox = new WebhookOutbox(clients.webhookOutbox, timeoutMs, config.webhooks);
  const log = logger.child({ component: 'delivery' });
  for (const t of targets) {
    for (const outcome of ['delivered', 'retry', 'failed']) metrics.deliveryAttempts.inc({ target: t.name, outcome }, 0);
    metrics.deliveriesFailed.set({ target: t.name }, 0);
  }
  for (const w of config.webhooks)
    for (const outcome of ['sent', 'retry', 'failed']) metrics.webhookAttempts.inc({ endpoint: w.name, outcome }, 0);
  const emit = (...args: Parameters<WebhookOutbox['emit']>) =>
    void outbox.emit(...args).catch((err: unknown) => log.warn({ err, type: args[0] }, 'webhook event not recorded'));

  const settled = (o: DeliveryOutcome) => {
    const r = o.record;
    if (o.outcome === 'lost-lease') return;
    metrics.deliveryAttempts.inc({ target: r.target, outcome: o.outcome });
    const key = [r.target, r.date, r.after, `r${r.redelivery}`] as const;
    if (o.outcome === 'delivered') {
      const from = Date.parse(r.closedAt ?? r.createdAt);
      if (r.redelivery === 0 && Number.isFinite(from))
        metrics.deliveryLag.observe({ target: r.target }, Math.max(0, Date.now() - from) / 1000);
      emit('delivery.succeeded', messageId('delivery.succeeded', ...key), {
        target: r.target,
        date: r.date,
        seq: { from: r.after + 1, through: r.through },
        path: r.path,
        etag: r.fileEtag,
        sha256: r.sha256,
        bytes: r.bytes,
        redelivery: r.redelivery,
      });
    } else if (o.outcome === 'failed') {
      emit('delivery.failed', messageId('delivery.failed', ...key), {
        target: r.target,
        date: r.date,
        seq: { from: r.after + 1, through: r.through },
        attempts: r.attempts,
        errorCode: r.errorCode,
        error: r.lastError,
      });
    }
  };

  const ledger = new DeliveryLedger(clients.deliveries, timeoutMs);
  const sinks = sinkFactory(clients, log);
  const deliverer = new Deliverer({
    ledger,
    source,
    // The first file a sink creates is the data file (its sidecar comes after).
    sinkFor: (t) => crashAround(crashBeforeCommit(sinks(t), at), 'put', 'after', 'delivery-after-commit', at, (r) => r === 'created'),
    targets,
    instance: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    leaseMs: config.DELIVERY_LEASE_MS,
    maxAttempts: config.DELIVERY_MAX_ATTEMPTS,
    retryBaseMs: config.DELIVERY_RETRY_BASE_MS,
    logger: log,
    settled,
  });
  const dayEvents = new DayEvents(outbox);
  const task = new DeliveryTask({
    exportTable,
    ledger,
    deliverer,
    targets,
    timeZone: config.EXPORT_TIMEZONE,
    lookbackDays: config.DELIVERY_LOOKBACK_DAYS,
    intervalMs: config.DELIVERY_INTERVAL_MS,
    concurrency: config.DELIVERY_CONCURRENCY,
    logger: log,
    observe: {
      days: (closed) => dayEvents.observe(closed),
      failed: (byTarget) => {
        for (const [target, n] of Object.entries(byTarget)) metrics.deliveriesFailed.set({ target }, n);
      },
    },
  });
  const webhookSender = new WebhookSender({
    outbox,
    intervalMs: config.WEBHOOK_INTERVAL_MS,
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    maxAttempts: config.WEBHOOK_MAX_ATTEMPTS,
    retryBaseMs: config.WEBHOOK_RETRY_BASE_MS,
    logger: logger.child({ component: 'webhooks' }),
    counted: (endpoint, outcome) => metrics.webhookAttempts.inc({ endpoint, outcome }),
  });
  return { ledger, deliveries: task, outbox, webhookSender, emit };
}

/** FAULT_CRASH_AT=delivery-before-commit: killed with the data file whole but not yet visible (its beforeCommit done, the commit not sent). */
function crashBeforeCommit(sink: Sink, at: CrashPoint | undefined): Sink {
  if (at !== 'delivery-before-commit') return sink;
  const crash = crashHook(at);
  let first = true; // the data file; its sidecar comes after it
  return {
    put(path, body, beforeCommit, signal) {
      const data = first;
      first = false;
      const fenced = async () => {
        await beforeCommit();
        crash(at);
      };
      return sink.put(path, body, data ? fenced : beforeCommit, signal);
    },
    sha256Of: (path, signal) => sink.sha256Of(path, signal),
    close: () => sink.close(),
  };
}
