import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Logger } from 'pino';
import type { Config } from './config';
import { createApp } from './app';
import { backgroundTasks, createServices, type Services } from './services';
import type { BackgroundTask } from './background/task';
import { createLogger } from './observability/logger';
import type { EmbeddedAzurite } from './storage/embedded-azurite';
import { startExclusiveAzurite } from './storage/azurite-lock';
import { createStorageClients, provisionStorage, type ResolvedStorage } from './storage/clients';
import { hashPassword } from './auth/password';
import type { User } from './auth/users';
import { Backoff } from './consumer/backoff';
import { seedDemoData } from './expenses/demo-seed';
import { dateInZone } from './expenses/dates';

export interface RunningServer {
  url: string;
  port: number;
  services: Services;
  azurite?: EmbeddedAzurite;
  /** Idempotent graceful shutdown; resolves when everything is closed. */
  shutdown(reason: string): Promise<void>;
}

/** Resolves storage: the configured account, or an embedded Azurite we start (and own). */
async function resolveStorage(
  config: Config,
  log: Logger,
  started?: Promise<EmbeddedAzurite>,
): Promise<{ source: ResolvedStorage; azurite?: EmbeddedAzurite }> {
  if (config.storage.kind !== 'embedded') return { source: config.storage };
  const azurite = await (started ?? startEmbedded(config));
  log.info({ tablePort: azurite.tablePort, queuePort: azurite.queuePort, inMemory: config.storage.inMemory }, 'embedded Azurite started');
  return { source: { kind: 'connection-string', connectionString: azurite.connectionString }, azurite };
}

/** Exclusive: a second Azurite on the same data folder would overwrite this one's files (see azurite-lock.ts). */
export function startEmbedded(config: Config): Promise<EmbeddedAzurite> {
  if (config.storage.kind !== 'embedded') throw new Error('storage is not the embedded Azurite');
  return startExclusiveAzurite({ location: config.storage.location, inMemory: config.storage.inMemory, command: 'serve' });
}

/** With the embedded Azurite and no users configured: a `demo` user with every role and a random password. */
async function demoUser(config: Config, azurite: EmbeddedAzurite | undefined): Promise<{ users: User[]; demoPassword?: string }> {
  if (config.users.length > 0 || !azurite) return { users: config.users };
  const demoPassword = randomBytes(12).toString('base64url');
  return {
    users: [{ name: 'demo', roles: ['exporter', 'approver', 'admin'], passwordHash: await hashPassword(demoPassword) }],
    demoPassword,
  };
}

/** Storage may come up after us (or be briefly down): keep trying, boundedly. */
async function provisionWithRetry(services: Services, log: Logger): Promise<void> {
  const backoff = new Backoff(500, 5000);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await provisionStorage(services.clients, services.config.STORAGE_TIMEOUT_MS);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      log.warn({ err: (err as Error).message }, 'storage not ready; retrying');
      await sleep(backoff.next());
    }
  }
}

/** HTTP or HTTPS, with deliberate limits, listening. */
async function listen(app: Express, config: Config): Promise<{ server: Server; url: string; port: number }> {
  const tls = config.TLS_CERT_FILE && config.TLS_KEY_FILE;
  const server: Server = tls
    ? createHttpsServer({ cert: readFileSync(config.TLS_CERT_FILE!), key: readFileSync(config.TLS_KEY_FILE!) }, app)
    : createHttpServer(app);
  // Slow-loris headers, slow request bodies, idle keep-alives, and stalled download clients (no bytes
  // accepted for a minute) cannot hold a socket, memory or a table read forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.setTimeout(60_000, (socket) => socket.destroy());
  server.listen(config.PORT, config.HOST);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return { server, port, url: `${tls ? 'https' : 'http'}://${config.HOST}:${port}` };
}

export interface ShutdownParts {
  consumer: BackgroundTask | undefined;
  others: readonly BackgroundTask[];
  server: Server;
  azurite?: EmbeddedAzurite;
  log: Logger;
}

/**
 * Graceful shutdown within one budget (SHUTDOWN_TIMEOUT_MS), so a slow step
 * shortens the next one's share rather than pushing the exit past it:
 * 1. stop receiving; let handlers finish for 40% of the budget (unfinished
 *    messages stay in the queue); the other background tasks stop meanwhile;
 * 2. stop accepting HTTP; streaming exports may finish until 85%;
 * 3. storage last, so everything above could still finish its writes.
 */
/** The shutdown's log messages (tests and operators look for `complete`). */
export const SHUTDOWN_LOG = {
  start: 'shutting down',
  azuriteLate: 'embedded Azurite still stopping at the shutdown deadline; its watchdog finishes the job',
  complete: 'shutdown complete',
} as const;

export async function shutdown(p: ShutdownParts, budgetMs: number, reason: string): Promise<void> {
  const end = Date.now() + budgetMs;
  const until = (share: number) => Math.max(0, end - budgetMs * (1 - share) - Date.now());
  p.log.info({ reason }, SHUTDOWN_LOG.start);
  await Promise.all([p.consumer?.stop(until(0.4)), ...p.others.map((t) => t.stop(until(0.4)))]);

  const closed = new Promise<void>((r) => p.server.close(() => r()));
  p.server.closeIdleConnections();
  const timer = setTimeout(() => p.server.closeAllConnections(), until(0.85));
  await closed;
  clearTimeout(timer);

  // If Azurite is slow to go, we exit anyway: its watchdog sees our pipe close and stops it.
  if (p.azurite) {
    const stopped = await Promise.race([p.azurite.stop().then(() => true), sleep(Math.max(500, until(1)), false, { ref: false })]);
    if (!stopped) p.log.warn(SHUTDOWN_LOG.azuriteLate);
  }
  p.log.info(SHUTDOWN_LOG.complete);
}

export interface StartOptions {
  demoData?: boolean;
  logger?: Logger;
  /** The embedded Azurite, already starting (the CLI starts it while this module loads). */
  azurite?: Promise<EmbeddedAzurite>;
}

export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const log =
    opts.logger ?? createLogger({ level: config.LOG_LEVEL, pretty: process.stdout.isTTY === true && config.NODE_ENV !== 'production' });
  const { source, azurite } = await resolveStorage(config, log, opts.azurite);
  try {
    const { users, demoPassword } = await demoUser(config, azurite);
    const services = createServices(config, createStorageClients(source, config), users, log);
    await provisionWithRetry(services, log);
    if (azurite && (opts.demoData ?? config.DEMO_DATA)) {
      const { clients, store, outbox, queues } = services;
      const approvalDeps = { store, outbox, queue: queues.main, timeoutMs: config.STORAGE_TIMEOUT_MS, timeZone: config.EXPORT_TIMEZONE };
      await seedDemoData(clients.expenses, approvalDeps, log);
    }

    const { server, url, port } = await listen(createApp(services, { trustProxy: config.TRUST_PROXY }), config);
    const tasks = backgroundTasks(services, { consumer: config.CONSUMER_ENABLED });
    for (const t of tasks) t.start();

    let closing: Promise<void> | undefined;
    const parts: ShutdownParts = {
      consumer: tasks.find((t) => t === services.consumer),
      others: tasks.filter((t) => t !== services.consumer),
      server,
      azurite,
      log,
    };
    const stop = (reason: string) => (closing ??= shutdown(parts, config.SHUTDOWN_TIMEOUT_MS, reason));

    printBanner({
      url,
      azurite,
      demoPassword,
      today: dateInZone(new Date(), config.EXPORT_TIMEZONE),
      location: config.storage.kind === 'embedded' && !config.storage.inMemory ? config.storage.location : undefined,
      deliveryTargets: config.deliveryTargets.map((t) =>
        t.kind === 'blob' ? `${t.name} (container ${t.container})` : `${t.name} (sftp ${t.host})`,
      ),
    });
    return { url, port, services, azurite, shutdown: stop };
  } catch (err) {
    await azurite?.stop();
    throw err;
  }
}

function printBanner(b: {
  url: string;
  azurite?: EmbeddedAzurite;
  demoPassword?: string;
  today: string;
  location?: string;
  deliveryTargets: string[];
}): void {
  const lines = [
    '',
    `  expense-export listening on ${b.url}`,
    `  API docs:   ${b.url}/docs`,
    b.azurite
      ? `  storage:    embedded Azurite (tables :${b.azurite.tablePort}, queues :${b.azurite.queuePort}, blobs :${b.azurite.blobPort}), ${b.location ? `data in ${b.location}/` : 'in memory'}`
      : '  storage:    configured Azure Storage account',
  ];
  if (b.deliveryTargets.length > 0) lines.push(`  delivery:   closed days go to ${b.deliveryTargets.join(', ')} (see docs/delivery.md)`);
  if (b.demoPassword) {
    lines.push(
      `  demo user:  demo / ${b.demoPassword}   (all roles; set AUTH_USERS to replace it)`,
      '',
      '  Try it (in a second shell):',
      `    curl -fsS -u 'demo:${b.demoPassword}' ${b.url}/exports/${b.today}`,
    );
  }
  lines.push('');
  process.stdout.write(lines.join('\n') + '\n');
}
