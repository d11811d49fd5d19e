import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config';
import { createApp } from './app';
import { createServices, type Services } from './services';
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
async function resolveStorage(config: Config, log: Logger): Promise<{ source: ResolvedStorage; azurite?: EmbeddedAzurite }> {
  if (config.storage.kind !== 'embedded') return { source: config.storage };
  // Exclusive: a second Azurite on the same data folder would overwrite this one's files (see azurite-lock.ts).
  const azurite = await startExclusiveAzurite({ location: config.storage.location, inMemory: config.storage.inMemory, command: 'serve' });
  log.info({ tablePort: azurite.tablePort, queuePort: azurite.queuePort, inMemory: config.storage.inMemory }, 'embedded Azurite started');
  return { source: { kind: 'connection-string', connectionString: azurite.connectionString }, azurite };
}

/** Storage may come up after us (or be briefly down): keep trying, boundedly. */
async function provisionWithRetry(services: Services, log: Logger): Promise<void> {
  const backoff = new Backoff(500, 5000);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await provisionStorage(services.clients);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      log.warn({ err: (err as Error).message }, 'storage not ready; retrying');
      await new Promise((r) => setTimeout(r, backoff.next()));
    }
  }
}

export async function startServer(config: Config, opts: { demoData?: boolean; logger?: Logger } = {}): Promise<RunningServer> {
  const log =
    opts.logger ?? createLogger({ level: config.LOG_LEVEL, pretty: process.stdout.isTTY === true && config.NODE_ENV !== 'production' });
  const { source, azurite } = await resolveStorage(config, log);
  try {
    const clients = createStorageClients(source, config);
    let users: User[] = config.users;
    let demoPassword: string | undefined;
    if (users.length === 0 && azurite) {
      demoPassword = randomBytes(12).toString('base64url');
      users = [{ name: 'demo', roles: ['exporter', 'approver', 'admin'], passwordHash: await hashPassword(demoPassword) }];
    }
    const services = createServices(config, clients, users, log);
    await provisionWithRetry(services, log);
    if (azurite && (opts.demoData ?? config.DEMO_DATA)) await seedDemoData(services, log);

    const app = createApp(services, { trustProxy: config.TRUST_PROXY });
    const tls = config.TLS_CERT_FILE && config.TLS_KEY_FILE;
    const server: Server = tls
      ? createHttpsServer({ cert: readFileSync(config.TLS_CERT_FILE!), key: readFileSync(config.TLS_KEY_FILE!) }, app)
      : createHttpServer(app);
    // Deliberate limits: slow-loris headers, slow request bodies, idle keep-alives, and stalled
    // download clients (no bytes accepted for a minute) cannot hold a socket, memory or a table read forever.
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.keepAliveTimeout = 5_000;
    server.setTimeout(60_000, (socket) => socket.destroy());
    server.listen(config.PORT, config.HOST);
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const url = `${tls ? 'https' : 'http'}://${config.HOST}:${port}`;

    if (config.CONSUMER_ENABLED) services.consumer.start();
    services.sweeper.start();
    services.depths.start();

    let closing: Promise<void> | undefined;
    const shutdown = (reason: string) =>
      (closing ??= (async () => {
        const budget = config.SHUTDOWN_TIMEOUT_MS;
        // One budget for all steps: a slow drain shortens the HTTP grace rather than pushing the exit past it.
        const end = Date.now() + budget;
        const left = (share: number) => Math.max(0, end - budget * (1 - share) - Date.now());
        log.info({ reason }, 'shutting down');
        // 1-2: stop receiving, let handlers finish (bounded); unfinished messages stay in the queue.
        await Promise.all([services.consumer.stop(Math.floor(budget * 0.4)), services.sweeper.stop()]);
        services.depths.stop();
        // 3: stop accepting; let streaming exports finish (bounded), then cut what is left.
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        const timer = setTimeout(() => server.closeAllConnections(), left(0.85));
        await closed;
        clearTimeout(timer);
        // 4: storage last, so everything above could still finish its writes. If Azurite is slow to go,
        // we exit anyway: its watchdog sees our pipe close and stops it.
        if (azurite) {
          const stopped = await Promise.race([azurite.stop().then(() => true), sleep(Math.max(500, left(1)), false, { ref: false })]);
          if (!stopped) log.warn('embedded Azurite still stopping at the shutdown deadline; its watchdog finishes the job');
        }
        log.info('shutdown complete');
      })());

    printBanner({
      url,
      azurite,
      demoPassword,
      today: dateInZone(new Date(), config.EXPORT_TIMEZONE),
      location: config.storage.kind === 'embedded' && !config.storage.inMemory ? config.storage.location : undefined,
    });
    return { url, port, services, azurite, shutdown };
  } catch (err) {
    await azurite?.stop();
    throw err;
  }
}

function printBanner(b: { url: string; azurite?: EmbeddedAzurite; demoPassword?: string; today: string; location?: string }): void {
  const lines = [
    '',
    `  expense-export listening on ${b.url}`,
    `  API docs:   ${b.url}/docs`,
    b.azurite
      ? `  storage:    embedded Azurite (tables :${b.azurite.tablePort}, queues :${b.azurite.queuePort}), ${b.location ? `data in ${b.location}/` : 'in memory'}`
      : '  storage:    configured Azure Storage account',
  ];
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
