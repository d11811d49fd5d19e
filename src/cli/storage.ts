import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config';
import { createStorageClients, provisionStorage, type StorageClients } from '../storage/clients';
import { azuriteConnectionString, type EmbeddedAzurite } from '../storage/embedded-azurite';
import {
  AzuriteFolderBusyError,
  LOCK_FILE,
  isLive,
  portAnswers,
  readHolder,
  startExclusiveAzurite,
  type AzuriteHolder,
} from '../storage/azurite-lock';
import pino from 'pino';
import { createServices, type Services } from '../services';
import { createMetrics } from '../observability/metrics';
import { CliError, oneLine } from './common';

export interface CliStorage {
  clients: StorageClients;
  /** The server's own wiring (no timers, no users): commands use the same owners the API does. */
  services: Services;
  /** For the operator: where the data is. */
  description: string;
  /**
   * Who will drain the queue: a server we know runs on this embedded folder,
   * nobody (we started the folder's Azurite ourselves), or unknown (a
   * configured account, which any number of servers may consume).
   */
  consumer: 'server' | 'none' | 'unknown';
  embedded?: { location: string; server?: AzuriteHolder };
}

/**
 * Storage for one CLI command. A configured account is used as is. With
 * none, the embedded Azurite's data folder: if a server owns it (its lock
 * file names a live pid and Azurite's ports) we talk to that Azurite, since a
 * second one on the same files would corrupt them; otherwise we start our own
 * on the folder for the duration of the command, holding the lock so a server
 * started meanwhile refuses instead of colliding.
 */
export async function withStorage<T>(cfg: Config, command: string, fn: (s: CliStorage) => Promise<T>): Promise<T> {
  let azurite: EmbeddedAzurite | undefined;
  const stopOnSignal = () => {
    // Ctrl-C during a command we started Azurite for: stop it (it flushes its files) and release the folder.
    void (azurite?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    let storage: Omit<CliStorage, 'services'>;
    if (cfg.storage.kind !== 'embedded') {
      storage = { clients: createStorageClients(cfg.storage, cfg), description: describeAccount(cfg), consumer: 'unknown' };
    } else {
      if (cfg.storage.inMemory) {
        throw new CliError(
          'AZURITE_IN_MEMORY=true: in-memory embedded storage exists only inside `expense-export serve`; unset it to use the data folder, or set AZURE_STORAGE_CONNECTION_STRING',
        );
      }
      const location = cfg.storage.location;
      const server = await runningHolder(location);
      if (server) {
        storage = {
          clients: createStorageClients(
            { kind: 'connection-string', connectionString: azuriteConnectionString(server.tablePort!, server.queuePort!, server.blobPort) },
            cfg,
          ),
          description: `embedded Azurite of expense-export ${server.command} (pid ${server.pid}), data in ${location}/`,
          consumer: server.command === 'serve' ? 'server' : 'none',
          embedded: { location, server },
        };
      } else {
        azurite = await startOwn(location, command);
        storage = {
          clients: createStorageClients({ kind: 'connection-string', connectionString: azurite.connectionString }, cfg),
          description: `embedded Azurite started for this command, data in ${location}/`,
          consumer: 'none',
          embedded: { location },
        };
      }
    }
    await provisionStorage(storage.clients, cfg.STORAGE_TIMEOUT_MS).catch((err: Error) => {
      throw new CliError(`storage unreachable (${storage.description}): ${oneLine(err.message, 200)}`);
    });
    // The CLI's own output is its contract (one line on failure); service logs would only add noise to it.
    const services = createServices(cfg, storage.clients, [], pino({ level: 'silent' }), createMetrics({ defaultMetrics: false }));
    return await fn({ ...storage, services });
  } finally {
    process.off('SIGINT', stopOnSignal);
    process.off('SIGTERM', stopOnSignal);
    await azurite?.stop();
  }
}

function describeAccount(cfg: Config): string {
  if (cfg.storage.kind === 'connection-string') {
    const account =
      /AccountName=([^;]+)/i.exec(cfg.storage.connectionString)?.[1] ??
      (/UseDevelopmentStorage=true/i.test(cfg.storage.connectionString) ? 'devstoreaccount1' : 'unknown');
    return `storage account ${account} (connection string)`;
  }
  if (cfg.storage.kind === 'identity') return `${cfg.storage.tableEndpoint} (DefaultAzureCredential)`;
  return 'embedded';
}

/** The live process holding the folder, once its Azurite listens; undefined when nobody does. */
async function runningHolder(location: string): Promise<AzuriteHolder | undefined> {
  const path = join(resolve(location), LOCK_FILE);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const holder = readHolder(location);
    if (!isLive(holder, path)) return undefined;
    if (holder.tablePort !== undefined && holder.queuePort !== undefined) {
      // Nothing listening means no Azurite: a lock left behind, its pid reused after a restart.
      return (await portAnswers(holder.tablePort)) ? holder : undefined;
    }
    // The holder is still starting Azurite: its ports appear in the lock file within seconds.
    if (Date.now() > deadline)
      throw new CliError(
        `${location}/ is held by process ${holder.pid} (expense-export ${holder.command}), which has not started Azurite yet; retry shortly`,
      );
    await sleep(200);
  }
}

async function startOwn(location: string, command: string): Promise<EmbeddedAzurite> {
  try {
    return await startExclusiveAzurite({ location, inMemory: false, command });
  } catch (err) {
    if (err instanceof AzuriteFolderBusyError) throw new CliError(err.message);
    throw err;
  }
}
